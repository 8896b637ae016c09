/**
 * Plugin manifest: the call generator as a source. Frames are produced in memory in capture-time order, so a
 * demo, a soak test or a plugin author's test needs no capture file. `tapline generate` writes the same to pcap.
 */
import { definePlugin, TAPLINE_API, type Source } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { generateFrames } from './generate';
import type { GeneratorOptions } from './scenario';
import optionsSchema from './options.schema.json';
import { generateCommandSpec } from './generate-command';

export default definePlugin<GeneratorOptions>({
  name: 'source-generator',
  kind: 'source',
  api: TAPLINE_API,
  description: 'synthetic SIP calls with RTP (tones per call and direction), generated in memory',
  optionsSchema,
  commands: [generateCommandSpec],
  register(ctx) {
    const opts = ctx.options;
    const source: Source = {
      name: 'source-generator',
      label: `generator(${opts.calls ?? 1} calls)`,
      async run(sink, signal) {
        let frames = 0;
        await generateFrames({ ...opts }, (f) => {
          frames++;
          sink.frame(f);
        }, { signal, waitWritable: () => sink.writable() });
        return { frames };
      },
    };
    ctx.container.register(Tokens.Source, { useValue: source });
  },
});
