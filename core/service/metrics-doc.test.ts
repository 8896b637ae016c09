import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CounterSet } from '../counters';
import { LifecycleHub } from '../lifecycle';
import { memoryLogger } from '../log';
import { PromMetrics } from '../metrics';
import { repoRoot } from '../../test/corpus';
import { exportCounters } from './counter-metrics';
import { OpsServer } from './ops-server';
import { attachLifecycleMetrics, registerServiceMetrics } from './service-metrics';

interface DocRow {
  name: string;
  type: string;
  labels: string[];
}

function docRows(): DocRow[] {
  const md = fs.readFileSync(path.join(repoRoot, 'core', 'service', 'METRICS.md'), 'utf8');
  const rows: DocRow[] = [];
  for (const line of md.split('\n')) {
    const m = /^\| `(tapline_[a-z0-9_]+)` \| (counter|gauge|histogram) \|([^|]*)\|/.exec(line);
    if (m === null) continue;
    const labels = [...(m[3] as string).matchAll(/`([a-z_]+)`/g)].map((x) => x[1] as string).sort();
    rows.push({ name: m[1] as string, type: m[2] as string, labels });
  }
  return rows;
}

/** Everything `tapline serve` registers, built the way the service will build it. */
async function everyMetric(): Promise<Map<string, { type: string; labels: string[] }>> {
  const metrics = new PromMetrics({ defaultMetrics: true });
  exportCounters(metrics, new CounterSet());
  registerServiceMetrics(metrics, { sourcePackets: () => [], storageQueue: () => ({ depth: 0, bytes: 0, capacityBytes: 1 }), logDroppedLines: () => 0, callWorkers: () => [] });
  attachLifecycleMetrics(metrics, new LifecycleHub());
  const ops = await OpsServer.listen({ port: 0 }, { metrics, log: memoryLogger().log, readiness: () => ({ ready: true, reasons: [] }) });
  await ops.close();
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const m of metrics.registry.getMetricsAsArray() as unknown as Array<{ name: string; type: string; labelNames?: string[] }>) {
    out.set(m.name, { type: m.type, labels: (m.labelNames ?? []).filter((l) => l !== 'le').sort() });
  }
  return out;
}

describe('core/service/METRICS.md matches the metrics the service registers', () => {
  it('every documented metric exists with the documented type and labels', async () => {
    const rows = docRows();
    assert.ok(rows.length >= 40, `the tables were read (${rows.length} rows)`);
    const actual = await everyMetric();
    const wrong = rows
      .filter((r) => {
        const a = actual.get(r.name);
        return a === undefined || a.type !== r.type || a.labels.join(',') !== r.labels.join(',');
      })
      .map((r) => `${r.name}: documented ${r.type} [${r.labels}], registered ${JSON.stringify(actual.get(r.name) ?? 'nothing')}`);
    assert.deepEqual(wrong, []);
  });

  it('every tapline metric the service registers is documented (prom-client process defaults excepted)', async () => {
    const documented = new Set(docRows().map((r) => r.name));
    const actual = await everyMetric();
    const undocumented = [...actual.keys()].filter((n) => !documented.has(n) && !/^tapline_(process|nodejs)_/.test(n));
    assert.deepEqual(undocumented, []);
  });
});
