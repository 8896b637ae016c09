/**
 * A throw-away PKI made with the `openssl` command for TLS tests: a CA, a server certificate for localhost /
 * 127.0.0.1 / ::1, a client certificate from that CA, and a second CA with a client certificate of its own (the
 * one a mutual-TLS listener must refuse). Everything lives in one temporary folder that cleanup() removes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA the server does not trust, and a client certificate it issued. */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
  cleanup(): void;
}

/** Why makeTestPki cannot run here, or undefined. */
export function opensslUnavailable(): string | undefined {
  const r = spawnSync('openssl', ['version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? undefined : 'openssl not installed (Debian package: openssl)';
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function ca(dir: string, name: string, cn: string): void {
  openssl(dir, ['req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`]);
}

function leaf(dir: string, name: string, cn: string, issuer: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
  openssl(dir, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapline-pki-'));
  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  try {
    ca(dir, 'ca', 'Tapline Test CA');
    ca(dir, 'other-ca', 'Someone Else CA');
    leaf(dir, 'server', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth');
    leaf(dir, 'client', 'fe01.contoso.com', 'ca', 'extendedKeyUsage=clientAuth');
    leaf(dir, 'other-client', 'intruder.example.com', 'other-ca', 'extendedKeyUsage=clientAuth');
  } catch (e) {
    cleanup();
    throw e;
  }
  const f = (n: string): string => path.join(dir, n);
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.pem'),
    otherClientCert: f('other-client.pem'),
    otherClientKey: f('other-client.key'),
    cleanup,
  };
}
