import * as assert from 'node:assert/strict';
import { closest, closestPluginName, editDistance } from './suggest';
import { listBuiltinPlugins } from '../plugins/resolve';

describe('did-you-mean suggestions', () => {
  it('edit distance counts insertions, deletions, substitutions and a swap of neighbours as one edit each', () => {
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('g771', 'g711'), 1);
    assert.equal(editDistance('recieve', 'receive'), 1); // transposition
    assert.equal(editDistance('same', 'same'), 0);
  });

  it('suggests the closest key ignoring case, and nothing when no key is close', () => {
    const keys = ['reorderWindowMs', 'endLingerSec', 'metadataEverySec', 'srtp', 'keepUndecoded', 'backgroundWrites'];
    assert.equal(closest('reorderWindowMS', keys), 'reorderWindowMs');
    assert.equal(closest('reorderWindow', keys), 'reorderWindowMs');
    assert.equal(closest('endLingerSecs', keys), 'endLingerSec');
    assert.equal(closest('srpt', keys), 'srtp');
    assert.equal(closest('bogus', keys), undefined);
    assert.equal(closest('x', keys), undefined);
  });

  it('suggests enum values ("warning" → "warn") but not unrelated ones ("loud")', () => {
    const levels = ['debug', 'info', 'warn', 'error', 'silent'];
    assert.equal(closest('warning', levels), 'warn');
    assert.equal(closest('DEBUG', levels), 'debug');
    assert.equal(closest('loud', levels), undefined);
  });

  it('suggests built-in plugins by spelling or by the name without its kind prefix', () => {
    const builtins = listBuiltinPlugins();
    assert.ok(builtins.includes('codec-g711'), 'the built-in plugins are listed from plugins/');
    assert.equal(closestPluginName('codec-g771', builtins), 'codec-g711');
    assert.equal(closestPluginName('Codec-G711', builtins), 'codec-g711');
    assert.equal(closestPluginName('storage-locale', builtins), 'storage-local');
    assert.equal(closestPluginName('pcap', builtins), 'source-pcap');
    assert.equal(closestPluginName('mirroring', builtins), 'mode-mirroring');
    assert.equal(closestPluginName('no-such-plugin', builtins), undefined);
  });
});
