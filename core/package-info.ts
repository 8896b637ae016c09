/** Tapline's own package.json, found by walking up from this file (the same from sources and from dist/). */
import * as fs from 'node:fs';
import * as path from 'node:path';

function find(): { version: string; root: string } {
  let dir = __dirname;
  for (;;) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tapline') return { version: pkg.version ?? '0.0.0', root: dir };
    }
    const up = path.dirname(dir);
    if (up === dir) return { version: '0.0.0', root: path.resolve(__dirname, '..') };
    dir = up;
  }
}

export const packageInfo = find();
