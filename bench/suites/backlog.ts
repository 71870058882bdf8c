import { MIN_RUN_SECONDS, perSecondFigure, withBaseline, type Figure, type Suite } from '../harness.js';
import { eksBench } from '../providers.js';
import { BenchReceiver } from '../receiver.js';
import { workload } from '../workload.js';
import { drainBacklog } from './end-to-end.js';

const TARGET_MB = 256;

/**
 * (e): peak RSS of the bridge process while it drains a backlog (1,000,000 events; quick: 50,000)
 * into a webhook receiver that accepts at half the rate the source reaches on its own, so
 * backpressure, not the source, sets the pace. EKS: its emulator holds plain message strings,
 * the only one that can hold a million 1-20 KB events in the benchmark's memory.
 */
export const backlogSuite: Suite = {
  name: 'backlog',
  description: 'peak RSS of the bridge draining a backlog (100 events per second of cluster time) into a sink at half the source rate (EKS)',
  async run(ctx) {
    const w = await workload(ctx.quick);
    // A busy cluster's backlog: 100 events per second of cluster time (1,000,000 span 2.8 hours).
    // The EKS cursor keeps every eventId of its 5-minute overlap, so a denser log costs more memory
    // (at 10,000 per second the overlap holds the whole million: see the source's README).
    const perSecond = 100;
    const startMs = Date.now() - 4 * 3_600_000;

    // The source's own rate, with a receiver that never waits.
    const probeCount = ctx.quick ? 4000 : 50_000;
    const probe = await eksBench(probeCount, startMs, w.templates, perSecond);
    const fast = await new BenchReceiver().start();
    let sourceRate: number;
    try {
      const drain = await drainBacklog(probe, probeCount, fast, (m) => ctx.log(m));
      sourceRate = drain.events / drain.seconds;
      // Only the receiver's pace comes from it; a short probe undercounts the source (its first poll weighs more).
      if (drain.seconds < MIN_RUN_SECONDS) ctx.log(`the probe took ${drain.seconds.toFixed(2)} s, under ${MIN_RUN_SECONDS} s: the source rate and the receiver's pace are rough`);
    } finally {
      await fast.stop();
      await probe.stop();
    }
    const sinkRate = Math.max(100, Math.round(sourceRate / 2));
    ctx.log(`source alone: ${Math.round(sourceRate)} events/s; the receiver accepts ${sinkRate} events/s`);

    const figures: Figure[] = [];
    // Node's default heap grows well past what is live before it collects; a capped heap shows what
    // the bridge holds (the chart sets such a cap). The 96 MiB run drains a
    // fifth of the set: it shows how little is live.
    for (const variant of [
      { key: 'heap_256mb', label: '--max-old-space-size=256 --max-semi-space-size=8 (the chart default)', count: w.backlogSetSize, nodeArgs: ['--max-old-space-size=256', '--max-semi-space-size=8'] },
      { key: 'heap_256mb_default_young', label: '--max-old-space-size=256, Node\'s default young generation', count: w.backlogSetSize, nodeArgs: ['--max-old-space-size=256'] },
      { key: 'default_heap', label: "Node's default heap", count: w.backlogSetSize, nodeArgs: [] as string[] },
      { key: 'heap_96mb', label: '--max-old-space-size=96', count: Math.round(w.backlogSetSize / 5), nodeArgs: ['--max-old-space-size=96'] },
    ]) {
      ctx.log(`loading ${variant.count.toLocaleString('en-US')} events into the emulator`);
      const provider = await eksBench(variant.count, startMs, w.templates, perSecond);
      const slow = await new BenchReceiver({ eventsPerSecond: sinkRate }).start();
      try {
        const drain = await drainBacklog(provider, variant.count, slow, (m) => ctx.log(m), variant.nodeArgs);
        ctx.log(`${variant.label}: drained ${variant.count.toLocaleString('en-US')} events in ${drain.seconds.toFixed(1)} s (${Math.round(drain.events / drain.seconds)} events/s); bridge peak RSS ${drain.peakRssMb.toFixed(0)} MB`);
        figures.push(
          withBaseline(
            { key: `backlog.eks.${variant.key}.peak_rss_mb`, label: `backlog of ${variant.count.toLocaleString('en-US')} at half rate, ${variant.label}: peak RSS`, value: drain.peakRssMb, unit: 'MB' },
            `target ${TARGET_MB} MB`,
            TARGET_MB,
          ),
          perSecondFigure({ key: `backlog.eks.${variant.key}.events_per_s`, label: `  drain rate (at most the sink's)`, unit: 'events/s' }, drain.events, drain.seconds, { label: "the sink's pace", value: sinkRate }),
        );
      } finally {
        await slow.stop();
        await provider.stop();
      }
    }
    return figures;
  },
};
