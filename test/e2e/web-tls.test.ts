/**
 * The web port's transport: HTTPS with the configured certificate (the session cookie then Secure, HSTS sent), and
 * a config that would put the app on the network in the clear refused before anything listens.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as http from 'node:http';
import * as path from 'node:path';
import { makeTestPki, opensslUnavailable, type TestPki } from '../tls-pki';
import { cli, PASSWORDS, recordCatalogue, run, startWeb, type WebFixture } from '../web-fixture';

function request(url: string, opts: https.RequestOptions & { body?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, opts, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

describe('web port: TLS, and no plain HTTP off loopback', function () {
  this.timeout(120_000);
  let pki: TestPki | undefined;
  let web: WebFixture | undefined;
  let dir = '';

  before(async function () {
    const why = opensslUnavailable();
    if (!fs.existsSync(cli) || why !== undefined) {
      if (why !== undefined) console.log(`      (skipped: ${why})`);
      this.skip();
    }
    pki = makeTestPki();
    const rec = await recordCatalogue({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    dir = rec.dir;
    web = await startWeb(rec.dir, rec.config);
  });
  after(async () => {
    await web?.stop();
    pki?.cleanup();
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with its certificate: a Secure session cookie and HSTS', async () => {
    assert.match(web?.url ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = fs.readFileSync(pki?.ca ?? '');
    const login = await request(`${web?.url ?? ''}/api/login`, { method: 'POST', ca, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORDS.admin }) });
    assert.equal(login.status, 200);
    const cookie = String(login.headers['set-cookie']?.[0] ?? '');
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /Secure/i);
    assert.match(cookie, /SameSite=Strict/i);
    assert.match(String(login.headers['strict-transport-security'] ?? ''), /max-age=/);
    // A client that does not trust the certificate is refused by TLS itself.
    await assert.rejects(request(`${web?.url ?? ''}/api/session`, { method: 'GET' }), /self.signed|unable to verify|certificate/i);
    // Plain HTTP to the HTTPS port gets no page.
    const plain = await request((web?.url ?? '').replace('https:', 'http:') + '/', { method: 'GET' }).catch((e: Error) => ({ status: -1, headers: {}, body: e.message }));
    assert.notEqual(plain.status, 200);
  });

  it('refuses to listen off loopback in the clear', () => {
    const cfgFile = path.join(dir, 'exposed.config.json');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tapline.config.json'), 'utf8')) as { plugins: Array<{ use: string; options?: Record<string, unknown> }> };
    for (const p of cfg.plugins) if (p.use === 'web') p.options = { port: 0, host: '0.0.0.0' };
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const r = run(['web', '-c', cfgFile], dir);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /host 0\.0\.0\.0 is not loopback: configure tls/);
  });
});
