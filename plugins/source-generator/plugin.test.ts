import * as assert from 'node:assert/strict';
import { PluginHarness } from '../../core/testing/index';
import generator from './index';
import g711 from '../codec-g711/index';
import { Tokens } from '../../core/tokens';
import { ErrorCodes, isTaplineError } from '../../core/errors';

describe('source-generator plugin', () => {
  it('feeds generated calls through the pipeline: every call tracked and answered, media associated', async () => {
    const h = await PluginHarness.create(generator, { options: { calls: 3, durationSec: 2, seed: 7 }, with: [{ plugin: g711 }] });
    const [source] = h.resolveAll(Tokens.Source);
    assert.ok(source !== undefined);
    const res = await source.run(h.source('generator'), new AbortController().signal, { ready: () => undefined });
    const rec = await h.stop();
    assert.ok(res.frames > 3 * 2 * 2 * 50);
    assert.equal(rec.callsEnded.length, 3);
    assert.ok(rec.callsEnded.every((c) => c.disposition === 'answered' && c.endReason === 'bye'));
    assert.equal(h.counters()['core.media.unmatched'] ?? 0, 0);
  });

  it('refuses bad options with the schema error', async () => {
    await assert.rejects(PluginHarness.create(generator, { options: { calls: 0, codec: 'G729' } }), (e: unknown) => {
      assert.ok(isTaplineError(e, ErrorCodes.CONFIG_INVALID));
      assert.match(e.message, /\/plugins\/0\/options\/calls: expected must be >= 1/);
      assert.match(e.message, /\/plugins\/0\/options\/codec: expected one of \["PCMU","PCMA"\]/);
      return true;
    });
  });
});
