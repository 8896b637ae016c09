import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseUsersCsv, readUsersFile, UserDirectory, userKey, type UserEntry } from './users';
import { PluginHarness } from '../testing/index';
import { Tokens } from '../tokens';
import { isTaplineError, ErrorCodes } from '../errors';

const u = (uri: string, over: Partial<UserEntry> = {}): UserEntry => ({ uri, call: true, chat: false, endpointIp: '0.0.0.0', ...over });

function tmp(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-users-'));
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

describe('users: the recorded users and their licences', () => {
  it('userKey: one key for every way a SIP URI is written (case, sip:, <>, display name, params, port)', () => {
    for (const s of ['sip:alice@contoso.com', 'alice@contoso.com', 'SIP:Alice@Contoso.COM', '"Alice A" <sip:alice@contoso.com;transport=tls>', 'sips:alice@contoso.com:5061', '<sip:alice@contoso.com>;tag=x', 'sip:alice@contoso.com?subject=hi']) {
      assert.equal(userKey(s), 'alice@contoso.com', s);
    }
    assert.equal(userKey('sip:al%69ce@contoso.com'), 'alice@contoso.com');
    assert.equal(userKey('tel:+15551234'), 'tel:+15551234');
    assert.equal(userKey('sip:bob@[2001:db8::1]:5060'), 'bob@[2001:db8::1]');
    assert.equal(userKey('   '), undefined);
  });

  it('looks users up by any spelling of their URI, and answers licence questions', () => {
    const d = new UserDirectory([u('sip:Alice@contoso.com', { chat: true, name: 'Alice' }), u('bob@contoso.com', { call: false }), u('sip:carol@fabrikam.com')], ['contoso.com']);
    assert.equal(d.size, 3);
    assert.equal(d.lookup('"A" <SIP:alice@CONTOSO.com;gruu>')?.name, 'Alice');
    assert.equal(d.has('sip:alice@contoso.com', 'chat'), true);
    assert.equal(d.has('sip:bob@contoso.com', 'chat'), false);
    assert.equal(d.has('sip:bob@contoso.com', 'call'), false);
    assert.equal(d.has('sip:nobody@contoso.com', 'call'), false);
    assert.equal(d.firstLicensed(['sip:bob@contoso.com', 'sip:zed@x.com', 'sip:alice@contoso.com'], 'chat')?.uri, 'sip:Alice@contoso.com');
    assert.equal(d.firstLicensed(['sip:bob@contoso.com'], 'chat'), undefined);
    assert.equal(d.isLocal('sip:carol@fabrikam.com'), false);
    assert.equal(d.isLocal('sip:anyone@Contoso.com'), true);
  });

  it('refuses a user listed twice, naming both places', () => {
    assert.throws(
      () => new UserDirectory([u('sip:alice@contoso.com'), u('ALICE@contoso.com')], [], ['users[0]', 'users.csv line 3']),
      (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID) && /users\[0\] and users\.csv line 3/.test(e.message),
    );
  });

  it('reads a CSV users file: header names the columns, yes/no booleans, quotes, comments, defaults filled', () => {
    const f = tmp('users.csv', '# agents\nuri,name,call,chat,recorder,endpointIp\nsip:alice@contoso.com,"Liddell, Alice",yes,yes,2,10.1.2.3\nbob@contoso.com,,,,,\n');
    const { users, sources } = readUsersFile(f);
    assert.deepEqual(users[0], { uri: 'sip:alice@contoso.com', name: 'Liddell, Alice', call: true, chat: true, recorder: 2, endpointIp: '10.1.2.3' });
    assert.deepEqual(users[1], { uri: 'bob@contoso.com', call: true, chat: false, endpointIp: '0.0.0.0' });
    assert.deepEqual(sources, ['users.csv line 3', 'users.csv line 4']);
    assert.deepEqual(
      parseUsersCsv('URI;Chat\nsip:x@y.z;no\n').map((r) => r.entry),
      [{ uri: 'sip:x@y.z', chat: false }],
    );
  });

  it('reads a JSON users file (an array or { users: [...] })', () => {
    assert.equal(readUsersFile(tmp('u.json', JSON.stringify([{ uri: 'sip:a@b.c', chat: true }]))).users[0]?.chat, true);
    assert.equal(readUsersFile(tmp('u.json', JSON.stringify({ users: [{ uri: 'sip:a@b.c' }] }))).users[0]?.chat, false);
  });

  it('a bad users file is refused with every problem and where it is', () => {
    const f = tmp('users.csv', 'uri,chat,recorder\nsip:a@b.c,maybe,7\nnot-a-uri,yes,1\n');
    assert.throws(
      () => readUsersFile(f),
      (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID) && /\/0\/chat: expected boolean; found "maybe"/.test(e.message) && /\/0\/recorder/.test(e.message) && /\/1\/uri/.test(e.message),
    );
    assert.throws(() => readUsersFile(tmp('users.csv', 'email,chat\nx@y,1\n')), /header row must name the columns.*unknown: email/);
    assert.throws(() => readUsersFile(tmp('u.json', '{ nope')), (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_LOAD));
    assert.throws(() => readUsersFile('/nonexistent/users.csv'), (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_LOAD) && /cannot read the users file/.test(e.message));
  });

  it('the kernel binds Tokens.Users from the config: users plus usersFile (relative to the config folder)', async () => {
    const f = tmp('users.csv', 'uri,chat\nsip:carol@contoso.com,yes\n');
    const h = await PluginHarness.core({ config: { users: [{ uri: 'sip:alice@contoso.com', chat: true }, { uri: 'bob@contoso.com' }], usersFile: f, localDomains: ['contoso.com'] } });
    const users = h.kernel.root.resolve(Tokens.Users);
    assert.equal(users.size, 3);
    assert.equal(users.has('sip:carol@contoso.com', 'chat'), true);
    assert.equal(users.lookup('sip:bob@contoso.com')?.chat, false, 'chat licence is off by default');
    assert.equal(users.lookup('sip:bob@contoso.com')?.call, true, 'call licence is on by default');
    assert.equal(users.lookup('sip:bob@contoso.com')?.endpointIp, '0.0.0.0', '0.0.0.0: learn the endpoint');
    await h.stop();
  });

  it('the top-level schema checks users and localDomains', async () => {
    await assert.rejects(PluginHarness.core({ config: { users: [{ uri: 'alice', chat: 'yes' }] } }), /\/users\/0\/uri[\s\S]*\/users\/0\/chat: expected boolean/);
    await assert.rejects(PluginHarness.core({ config: { localDomains: ['a.com', 'b.com', 'c.com', 'd.com'] } }), /\/localDomains/);
    await assert.rejects(PluginHarness.core({ config: { users: [{ uri: 'sip:a@b.c', recorder: 4, endpointIp: 'somewhere' }] } }), /recorder[\s\S]*endpointIp/);
  });
});
