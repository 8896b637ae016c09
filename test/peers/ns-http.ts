/** A GET from inside a network namespace (the test process cannot reach a namespace's own loopback). */
import { spawnSync } from 'node:child_process';

export function nsGet(ns: string, url: string): string {
  const js = `fetch(${JSON.stringify(url)}).then(async r => { process.stdout.write(await r.text()); }).catch(e => { console.error(e.message); process.exit(1); })`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`GET ${url} in ${ns}: ${r.stderr}`);
  return r.stdout;
}
