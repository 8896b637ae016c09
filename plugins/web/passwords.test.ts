import * as assert from 'node:assert/strict';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords';

describe('web: password hashes', () => {
  it('verifies the password it hashed (salted: two hashes differ), and nothing else', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    assert.match(a, /^scrypt\$32768\$8\$1\$/);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('correct horse battery staple', a), true);
    assert.equal(await verifyPassword('correct horse battery stapl', a), false);
    assert.equal(await verifyPassword('anything', DUMMY_HASH), false);
    assert.equal(await verifyPassword('x', 'plain text'), false);
    assert.equal(await verifyPassword('x', 'scrypt$99999999$8$1$AA==$AA=='), false, 'absurd cost refused, not computed');
  });

  it('treats composed and decomposed Unicode as the same password', async () => {
    const h = await hashPassword('J\u00fcrgen-Passw\u00f6rter');
    assert.equal(await verifyPassword('Ju\u0308rgen-Passwo\u0308rter', h), true);
  });
});
