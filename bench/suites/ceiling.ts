import { describeTemplates, workload } from '../workload.js';
import type { Suite } from '../harness.js';

/** (a): the ceiling every other figure is a ratio to. */
export const ceilingSuite: Suite = {
  name: 'ceiling',
  description: 'JSON.parse + JSON.stringify of the workload set, one core: the most any bridge can do',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const d = describeTemplates(w.templates);
    ctx.log(`workload: ${w.cpuSetSize.toLocaleString('en-US')} events from ${w.templates.length} templates, ${d.minBytes}-${d.maxBytes} bytes (mean ${d.meanBytes}), levels ${JSON.stringify(d.levels)}`);
    return [
      { key: 'ceiling.events_per_s', label: 'ceiling: JSON.parse + JSON.stringify', value: w.ceiling.eventsPerSecond, unit: 'events/s' },
      { key: 'ceiling.mb_per_s', label: 'ceiling: JSON.parse + JSON.stringify', value: w.ceiling.mbPerSecond, unit: 'MB/s' },
    ];
  },
};
