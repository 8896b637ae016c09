import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureFilter } from './agent';
import { parseStatic, resolveForwarder, type DeploymentOptions, type ForwarderOptions } from './options';

const HEX_KEY = `hex:${'ab'.repeat(32)}`;

function deployment(o: Partial<DeploymentOptions> = {}): DeploymentOptions {
  return { id: 1, keys: { '1': HEX_KEY }, recorders: [{ host: '10.1.0.1', port: 9070, controlPort: 9071, feedPort: 8008 }], static: [], sip: true, ...o };
}

function options(o: Partial<ForwarderOptions> = {}): ForwarderOptions {
  return {
    mode: 'mirroring',
    interfaces: ['eth0'],
    filter: 'udp or tcp',
    snaplen: 65535,
    bufferBytes: 32 << 20,
    promiscuous: true,
    sensorId: 1,
    turnPorts: [3478],
    interestFilter: true,
    mtu: 1400,
    replaySeconds: 3,
    replayMaxBytes: 64 << 20,
    heartbeatMs: 200,
    deadAfterMs: 800,
    reconnectMs: 500,
    queueDatagrams: 8192,
    sip: { sniff: false, ports: [5060], hep: { enabled: false, host: '127.0.0.1', port: 9060, allow: ['127.0.0.0/8', '::1'] } },
    deployments: [deployment()],
    ops: { enabled: false, host: '127.0.0.1', port: 9478, allow: ['127.0.0.0/8'] },
    ...o,
  };
}

describe('forwarder options', () => {
  describe('parseStatic', () => {
    it('"ip", "ip:port" and "[v6]:port"', () => {
      assert.deepEqual(parseStatic('10.0.0.1'), { ip: '10.0.0.1' });
      assert.deepEqual(parseStatic('10.0.0.1:5000'), { ip: '10.0.0.1', port: 5000 });
      assert.deepEqual(parseStatic('2001:db8::1'), { ip: '2001:db8::1' });
      assert.deepEqual(parseStatic('[2001:db8::1]:5000'), { ip: '2001:db8::1', port: 5000 });
      assert.deepEqual(parseStatic('::1'), { ip: '::1' });
    });

    it('refuses names, bad addresses and bad ports', () => {
      for (const bad of ['host.example', '10.0.0.256', '10.0.0.1:0', '10.0.0.1:65536', '[2001:db8::1]:0', '[not-v6]:5000', '', '10.0.0.1:', '10.0.0.0/8']) {
        assert.throws(() => parseStatic(bad), RangeError, bad);
      }
    });
  });

  describe('resolveForwarder', () => {
    it('loads the keys (the highest id signs), splits static entries into addresses and endpoints', () => {
      const r = resolveForwarder(
        options({ deployments: [deployment({ keys: { '1': HEX_KEY, '7': 'a text secret of enough bytes!!', '3': `base64:${Buffer.alloc(16, 3).toString('base64')}` }, static: ['10.0.0.5', '10.0.0.6:5060', '[2001:DB8::6]:5061', '2001:db8::7'] })] }),
        '/etc/tapline',
      );
      assert.equal(r.deployments.length, 1);
      const d = r.deployments[0]!;
      assert.equal(d.key.id, 7);
      assert.deepEqual(d.staticAddresses, ['10.0.0.5', '2001:db8::7']);
      assert.deepEqual(d.staticEndpoints, ['10.0.0.6:5060', '[2001:DB8::6]:5061']);
      assert.equal(r.configDir, '/etc/tapline');
      assert.equal(r.local, undefined, 'only endpoint mode has local addresses');
      assert.ok(r.hepAllow.allows('127.0.0.1'));
      assert.ok(!r.hepAllow.allows('10.0.0.1'));
    });

    it('reads a key file relative to the config folder', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fwd-opts-'));
      fs.writeFileSync(path.join(dir, 'keys.json'), JSON.stringify({ '4': HEX_KEY }));
      const r = resolveForwarder(options({ deployments: [deployment({ keys: undefined, keyFile: 'keys.json' })] }), dir);
      assert.equal(r.deployments[0]!.key.id, 4);
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: undefined, keyFile: 'missing.json' })] }), dir), /cannot be read/);
    });

    it('refuses a deployment without a key', () => {
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: undefined })] }), '.'), { name: 'RangeError', message: /deployments\[0\]: no TFWD key/ });
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: {} })] }), '.'), /no TFWD key/);
    });

    it('refuses bad keys, naming the entry', () => {
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: { '1': 'short' } })] }), '.'), /deployments\[0\]\.keys: key 1 has 5 bytes/);
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: { x: HEX_KEY } })] }), '.'), /key id "x"/);
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ keys: { '1': 'hex:abc' } })] }), '.'), /hex/);
    });

    it('refuses a deployment id given twice', () => {
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ id: 3 }), deployment({ id: 4 }), deployment({ id: 3 })] }), '.'), {
        name: 'RangeError',
        message: /deployments\[2\]: deployment id 3 is given twice/,
      });
    });

    it('refuses a bad static entry, naming the deployment', () => {
      assert.throws(() => resolveForwarder(options({ deployments: [deployment(), deployment({ id: 2, static: ['10.0.0.1', 'mediaserver:5000'] })] }), '.'), {
        name: 'RangeError',
        message: /deployments\[1\]\.static: "mediaserver:5000" is not an address/,
      });
      assert.throws(() => resolveForwarder(options({ deployments: [deployment({ static: ['10.0.0.1:99999'] })] }), '.'), /no valid port/);
    });

    it('refuses a bad HEP allow-list as a RangeError', () => {
      assert.throws(() => resolveForwarder(options({ sip: { sniff: false, ports: [5060], hep: { enabled: true, host: '127.0.0.1', port: 9060, allow: ['nope'] } } }), '.'), { name: 'RangeError', message: /sip\.hep\.allow/ });
    });

    it('endpoint mode: the local addresses given (checked), or none found is an error', () => {
      const r = resolveForwarder(options({ mode: 'endpoint', localAddresses: ['10.2.0.9', 'fe80::1'] }), '.');
      assert.deepEqual([...(r.local ?? [])], ['10.2.0.9', 'fe80::1']);
      assert.equal('localAddresses' in r, false);
      assert.throws(() => resolveForwarder(options({ mode: 'endpoint', localAddresses: ['pc.example'] }), '.'), /localAddresses: "pc.example" is not an address/);
      assert.throws(() => resolveForwarder(options({ mode: 'endpoint', localAddresses: [] }), '.'), /endpoint mode needs this PC's addresses/);
      assert.throws(() => resolveForwarder(options({ mode: 'endpoint', interfaces: ['no-such-interface-xyz'] }), '.'), /none found on no-such-interface-xyz/);
    });
  });

  describe('captureFilter', () => {
    it("excludes the agent's own traffic to every recorder (TFWD, control and feed ports) from the configured filter", () => {
      const r = resolveForwarder(
        options({
          deployments: [
            deployment({ recorders: [{ host: '10.1.0.1', port: 9070, controlPort: 9071, feedPort: 8008 }, { host: '10.1.0.2', port: 9170, controlPort: 0, feedPort: 0 }] }),
            deployment({ id: 2, recorders: [{ host: '2001:db8::10', port: 9070, controlPort: 9071, feedPort: 0 }] }),
          ],
        }),
        '.',
      );
      assert.equal(
        captureFilter(r),
        '(udp or tcp) and not ((host 10.1.0.1 and (port 9070 or port 9071 or port 8008)) or (host 10.1.0.2 and (port 9170)) or (host 2001:db8::10 and (port 9070 or port 9071)))',
      );
    });

    it('an empty filter is only the exclusion; the configured filter is kept whole (parenthesized)', () => {
      const empty = resolveForwarder(options({ filter: '  ' }), '.');
      assert.equal(captureFilter(empty), 'not ((host 10.1.0.1 and (port 9070 or port 9071 or port 8008)))');
      const or = resolveForwarder(options({ filter: 'udp portrange 10000-20000 or tcp port 443' }), '.');
      assert.ok(captureFilter(or).startsWith('(udp portrange 10000-20000 or tcp port 443) and not ('));
    });
  });
});
