/** `tapline plugins`: the built-in plugins with their kind and description. */
import { checkManifest, listBuiltinPlugins, resolvePluginModule } from '../plugins/resolve';

export function pluginsListCommand(): void {
  for (const name of listBuiltinPlugins()) {
    try {
      const m = checkManifest(require(resolvePluginModule(name, process.cwd())), name);
      const enc = m.encodings ? ` [${m.encodings.join(', ')}]` : '';
      process.stdout.write(`${m.name.padEnd(20)} ${m.kind.padEnd(10)} ${m.description ?? ''}${enc}\n`);
    } catch (e) {
      process.stdout.write(`${name.padEnd(20)} (cannot load: ${(e as Error).message})\n`);
    }
  }
}
