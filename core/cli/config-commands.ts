/** `tapline config check` and `tapline config print`. */
import { loadConfigFile } from '../config/load';
import { prepareConfig } from '../plugins/loader';

export async function configCheckCommand(opts: { config?: string }): Promise<void> {
  const loaded = await loadConfigFile(opts.config);
  const prepared = await prepareConfig(loaded);
  const where = prepared.file ?? 'no config file found; built-in defaults apply';
  const plugins = prepared.plugins.map((p) => `${p.manifest.name} (${p.manifest.kind})`).join(', ') || 'none';
  process.stdout.write(`config OK: ${where}\nplugins: ${plugins}\n`);
}

export async function configPrintCommand(opts: { config?: string }): Promise<void> {
  const loaded = await loadConfigFile(opts.config);
  const prepared = await prepareConfig(loaded);
  process.stdout.write(JSON.stringify(prepared.config, null, 2) + '\n');
}
