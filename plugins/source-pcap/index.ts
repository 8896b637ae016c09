/** Plugin manifest: reads pcap / pcapng capture files as a source of frames, streamed, one file after another. */
import * as path from 'node:path';
import { definePlugin, TAPLINE_API } from '../../core/contract';
import { Tokens } from '../../core/tokens';
import { PcapFileSource } from './file-source';
import optionsSchema from './options.schema.json';

export interface SourcePcapOptions {
  files: string[];
}

export default definePlugin<SourcePcapOptions>({
  name: 'source-pcap',
  kind: 'source',
  api: TAPLINE_API,
  description: 'pcap/pcapng capture files (Ethernet, SLL, SLL2, raw IP, VLAN, IPv4/IPv6, fragments, TCP)',
  optionsSchema,
  register(ctx) {
    for (const f of ctx.options.files) {
      ctx.container.register(Tokens.Source, { useValue: new PcapFileSource(path.resolve(ctx.configDir, f)) });
    }
  },
});
