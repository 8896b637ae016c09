import * as assert from 'node:assert/strict';
import { ErrorCodes, isTaplineError } from '../../core/errors';
import { PluginHarness } from '../../core/testing';
import { Tokens } from '../../core/tokens';
import plugin from './index';
import { LiveSource } from './live-source';
import { pcapAddon } from '../../core/net/pcap-addon';

describe('source-live: the plugin', () => {
  it('registers one live source for all its interfaces, with the schema defaults applied', async () => {
    const h = await PluginHarness.create(plugin, { options: { interfaces: ['eth0', 'eth1'] }, start: false });
    try {
      const sources = h.resolveAll(Tokens.Source) as unknown[];
      assert.equal(sources.length, 1);
      const src = sources[0] as LiveSource;
      assert.ok(src instanceof LiveSource);
      assert.equal(src.name, 'source-live');
      assert.equal(src.label, 'eth0,eth1');
      assert.equal(src.live, true);
      assert.deepEqual(src.options, {
        interfaces: ['eth0', 'eth1'],
        filter: 'udp or (tcp and portrange 5060-5069) or (ip6 and ip6[6] = 44)',
        snaplen: 65535,
        bufferBytes: 64 * 1024 * 1024,
        promiscuous: false,
        statsEverySec: 5,
      });
    } finally {
      await h.stop();
    }
  });

  it('refuses a config without interfaces, or with an empty or repeated one', async () => {
    for (const options of [{}, { interfaces: [] }, { interfaces: [''] }, { interfaces: ['lo', 'lo'] }]) {
      await assert.rejects(PluginHarness.create(plugin, { options, start: false }), (e: unknown) => isTaplineError(e, ErrorCodes.CONFIG_INVALID), JSON.stringify(options));
    }
  });

  it('refuses a BPF filter libpcap cannot compile when it registers, with libpcap\'s message (no privilege needed)', async function () {
    if (pcapAddon() === undefined) {
      console.warn('source-live: skipped: the native/pcap addon is not built, filters are checked when capture starts');
      this.skip();
    }
    await assert.rejects(PluginHarness.create(plugin, { options: { interfaces: ['lo'], filter: 'udp port' }, start: false }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CAPTURE_FILTER));
      assert.equal(e.message, 'source-live: BPF filter "udp port" refused: can\'t parse filter expression: syntax error');
      return true;
    });
  });
});
