import * as assert from 'node:assert/strict';
import { excerptAt, explainJsonError, findJsonSyntaxError, lineColumn } from './json-syntax';

function explain(text: string): { line: number; column: number; reason: string; excerpt: string } {
  let message = '';
  try {
    JSON.parse(text);
    assert.fail(`expected ${JSON.stringify(text)} to be invalid JSON`);
  } catch (e) {
    message = (e as Error).message;
  }
  return explainJsonError(text, message);
}

describe('JSON syntax errors: where and why', () => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    ['trailing comma in an object', '{\n  "media": {\n    "reorderWindowMs": 100,\n  }\n}', 3, 27, /trailing comma before '\}'/],
    ['trailing comma in a list (V8 gives no position)', '{ "sip": { "ports": [5060, 5061,] } }', 1, 32, /trailing comma before '\]'/],
    ['a // comment', '{\n  // recordings go here\n  "output": {}\n}', 2, 3, /a comment: JSON has no comments/],
    ['a /* comment */ after a value', '{ "a": 1 /* one */ }', 1, 10, /a comment/],
    ['a # comment', '# tapline\n{}', 1, 1, /a comment/],
    ['a name without quotes', '{ output: {} }', 1, 3, /property name without quotes: write "output"/],
    ['single quotes', "{ \"log\": { \"level\": 'debug' } }", 1, 21, /single quotes/],
    ['a missing comma between properties', '{\n  "a": 1\n  "b": 2\n}', 3, 3, /missing ',' between properties \(after the value of "a"\)/],
    ['a brace never closed', '{\n  "output": {\n    "dir": "x"\n  }\n', 4, 4, /ends before the '\{' of line 1, column 1 is closed/],
    ['an extra closing brace', '{ "a": 1 }}', 1, 11, /after the end of the JSON value/],
    ['a Windows path with single backslashes', '{ "usersFile": "C:\\Users\\rec\\users.csv" }', 1, 19, /invalid escape "\\U".*backslash as \\\\/],
    ['a string never closed on its line', '{ "dir": "recordings\n}', 1, 21, /line break inside a string/],
    ['a number with leading zeros', '{ "n": 007 }', 1, 8, /invalid number "007" \(no leading zeros\)/],
    ['True instead of true', '{ "keyReset": True }', 1, 15, /unexpected word True; write true/],
    ['NaN', '{ "x": NaN }', 1, 8, /NaN \(not a JSON value\)/],
    ['an empty file', '  \n', 1, 1, /the file is empty/],
    ['a value missing after a colon', '{ "a": }', 1, 8, /expected a value/],
  ];
  for (const [what, text, line, column, reason] of cases) {
    it(`names ${what} at line ${line}, column ${column}`, () => {
      const e = explain(text);
      assert.match(e.reason, reason);
      assert.deepEqual([e.line, e.column], [line, column], e.reason);
    });
  }

  it('counts lines of CRLF files and columns after tabs as an editor does', () => {
    const e = explain('{\r\n\t"a": 1,\r\n}\r\n');
    assert.deepEqual([e.line, e.column], [2, 8]);
    assert.equal(e.excerpt, '1 | {\n2 | \t"a": 1,\n  | \t      ^');
  });

  it('beyond the nesting it scans, it falls back to V8\'s message and position', () => {
    const text = '['.repeat(2000);
    assert.equal(findJsonSyntaxError(text), undefined);
    const e = explain(text);
    assert.match(e.reason, /Unexpected end of JSON input/);
    assert.deepEqual([e.line, e.column], [1, 2001]);
  });

  it('shows the line before and a caret under the column', () => {
    assert.equal(excerptAt('{\n  "a": 1,\n}', 2, 9), '1 | {\n2 |   "a": 1,\n  |         ^');
    assert.deepEqual(lineColumn('ab\ncd', 4), { line: 2, column: 2 });
  });

  it('shows a window of a long (minified) line around the column', () => {
    const text = `{${Array.from({ length: 60 }, (_, i) => `"k${i}":${i}`).join(',')},}`;
    const e = explain(text);
    assert.match(e.reason, /trailing comma/);
    const [shown, caret] = e.excerpt.split('\n') as [string, string];
    assert.ok(shown.length < 120, shown);
    assert.ok(shown.includes('…'));
    assert.equal(shown[caret.indexOf('^')], ',');
  });

  it('accepts exactly what JSON.parse accepts: 5,000 mutated configs, and every error is located no later than V8 locates it', () => {
    const base = JSON.stringify(
      { output: { dir: 'rec', layout: 'stereo' }, sip: { ports: [5060, 5061], detectOnAnyPort: true }, media: { srtp: { overlapSec: 5.5e-1 } }, policy: { logAllSipMessages: null, allowedCodecs: ['PCMU', 'G722'] }, s: 'a\\"\u00e9\\u0041' },
      null,
      2,
    );
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = '{}[],:"\\ \n/tfn0-1.eE+x\'#';
    let invalid = 0;
    for (let k = 0; k < 5000; k++) {
      let t = base;
      for (let m = 1 + rand(2); m > 0; m--) {
        const at = rand(t.length + 1);
        const op = rand(3);
        const ch = alphabet[rand(alphabet.length)] ?? '';
        t = op === 0 ? t.slice(0, at) + t.slice(at + 1) : op === 1 ? t.slice(0, at) + ch + t.slice(at) : t.slice(0, at) + ch + t.slice(at + 1);
      }
      let v8: string | undefined;
      try {
        JSON.parse(t);
      } catch (e) {
        v8 = (e as Error).message;
      }
      const found = findJsonSyntaxError(t);
      assert.equal(found === undefined, v8 === undefined, `${JSON.stringify(t)}: V8 says ${v8 ?? 'valid'}, scanner says ${found?.reason ?? 'valid'}`);
      if (found === undefined || v8 === undefined) continue;
      invalid++;
      const pos = /at position (\d+)/.exec(v8);
      if (pos) assert.ok(found.offset <= Number(pos[1]), `${JSON.stringify(t)}: scanner at ${found.offset} (${found.reason}), V8 at ${pos[1]}`);
    }
    assert.ok(invalid > 2000, `only ${invalid} of the mutations were invalid`);
  });
});
