/**
 * The boundaries the design promises, checked on the sources: the core imports no plugin; a built-in codec plugin
 * uses only the light plugin API (core/plugin-api = `tapline/plugin`), as a third party's package must; the packages
 * under packages/ import only `tapline/plugin` (their tests `tapline/testing`), Node's built-ins and their own files.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinModules } from 'node:module';
import { repoRoot } from './corpus';

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'build') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static and dynamic `import(...)`, `require(...)`). */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|\b(?:require|import)\(\s*'([^']+)'\s*\)/g)) {
    out.push((m[1] ?? m[2] ?? m[3]) as string);
  }
  return out;
}

const rel = (f: string): string => path.relative(repoRoot, f);

describe('public surface: what may import what', () => {
  it('the core imports no plugin', () => {
    const bad: string[] = [];
    for (const f of tsFiles(path.join(repoRoot, 'core'))) {
      if (f.endsWith('.test.ts')) continue; // a core test may use a plugin as its fixture
      for (const s of specifiers(f)) if (s.startsWith('.') && path.resolve(path.dirname(f), s).startsWith(path.join(repoRoot, 'plugins') + path.sep)) bad.push(`${rel(f)} → ${s}`);
    }
    assert.deepEqual(bad, []);
  });

  it('built-in codec plugins use only the plugin API (core/plugin-api, published as tapline/plugin), as a package must', () => {
    const bad: string[] = [];
    const plugins = path.join(repoRoot, 'plugins');
    for (const d of fs.readdirSync(plugins).filter((n) => n.startsWith('codec-'))) {
      for (const f of tsFiles(path.join(plugins, d))) {
        if (f.endsWith('.test.ts')) continue;
        for (const s of specifiers(f)) if (s.includes('/core/') && !s.endsWith('/core/plugin-api')) bad.push(`${rel(f)} → ${s}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it("packages import only 'tapline/plugin' (their tests also 'tapline/testing'), Node's built-ins, their own dependencies and their own files", () => {
    const packages = path.join(repoRoot, 'packages');
    const names = fs.existsSync(packages) ? fs.readdirSync(packages).filter((n) => fs.existsSync(path.join(packages, n, 'package.json'))) : [];
    assert.ok(names.length >= 2, `packages found: ${names.join(', ')}`);
    const bad: string[] = [];
    for (const n of names) {
      const pkg = JSON.parse(fs.readFileSync(path.join(packages, n, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      const deps = new Set(Object.keys(pkg.dependencies ?? {}));
      for (const f of tsFiles(path.join(packages, n))) {
        for (const s of specifiers(f)) {
          // Not 'tapline' itself: the whole kernel would load again in every call worker thread that loads the codec.
          const test = f.endsWith('.test.ts') || path.basename(f).startsWith('test-');
          const ok =
            s === 'tapline/plugin' ||
            (test && s === 'tapline/testing') ||
            builtinModules.includes(s.replace(/^node:/, '')) ||
            deps.has(s) ||
            (s.startsWith('.') && path.resolve(path.dirname(f), s).startsWith(path.join(packages, n) + path.sep));
          if (!ok) bad.push(`${rel(f)} → ${s}`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });
});
