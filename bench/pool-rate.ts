// The worker pool's rate for the cpu-pipeline suite, measured in a process of its own
// (pool-child.ts): the suite's process holds hundreds of MB of its own sets by then, and every full
// collection of the main thread's heap traced them on V8's helper threads, a cost the bridge's
// main thread, which holds a few pages, never has.
import { spawn } from 'node:child_process';
import { BODY_FORMATS, buildBody, envelopeBytes, type BodyItem } from '../src/sinks/webhook/format.js';
import { DedupeWindow, type BatchState } from '../src/pipeline/dedupe.js';
import { processSchema } from '../src/process/config.js';
import { compileProcessing } from '../src/process/stages.js';
import { PooledPreparer, prepareWorkerScript, WORKER_RESOURCE_LIMITS, type PreparedRecords, type PrepareJob, type ProcessedWire } from '../src/pipeline/prepare.js';
import type { PrepareWorkerData } from '../src/pipeline/prepare-worker.js';
import type { DeferredRecords } from '../src/pipeline/types.js';
import { WorkerPool } from '../src/pipeline/worker-pool.js';
import { EKS_CONVERTER } from '../src/sources/eks/poller.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { threadCpuSeconds, threadCpuSince } from './threads.js';
import { eventText, ROOT } from './workload.js';

/** One pooled run: its rate, how busy the main thread's event loop was, and the CPU of all threads. */
export interface PooledRun {
  rate: number;
  mainBusy: number;
  cores: number;
  /** The process's CPU by thread, in cores: what is not the main thread's or the workers' is V8's helpers' and libuv's. */
  threads: { main: number; workers: number; helpers: number };
}

/** Batches in flight at once, as the runner's default maxInFlightBatches. */
const IN_FLIGHT = 4;
/** Records per batch: a CloudWatch page of small events. */
const BATCH = 1000;
/** Events per worker the pool works through before the clock starts. */
const WARM_UP_EVENTS = 20_000;

/**
 * Events per second through a PooledPreparer of `workers` threads, batches kept in flight as the
 * runner keeps them, each answer admitted to a dedupe window and made into EventList bodies.
 */
export async function pooledRate(templates: Parameters<typeof eventText>[0], count: number, workers: number): Promise<PooledRun> {
  const processConfig = processSchema.parse({ policy: `${ROOT}config/audit-policy.yaml` });
  // Threads there before the pool: the main thread and the helpers; those that come with it are its workers.
  const before = new Set(threadCpuSeconds().keys());
  const load = compileProcessing(processConfig);
  if (!load.processing) throw new Error(load.problems.join('; '));
  const variants = { scrubbed: true, plain: false };
  const data: PrepareWorkerData = { process: processConfig, variants };
  // The bridge's own heap limits (src/bridge.ts): a worker's collections are part of what an event costs.
  const pool = new WorkerPool<PrepareJob, ProcessedWire>({ script: prepareWorkerScript(), size: workers, workerData: data, resourceLimits: WORKER_RESOURCE_LIMITS });
  const preparer = new PooledPreparer(pool, { processing: load.processing, variants }, silentLogger());
  const context = { cluster: 'bench', region: 'us-east-1', accountId: '123456789012' };
  const recordsOf = (first: number) => {
    const records = [];
    for (let i = first; i < Math.min(count, first + BATCH); i++) records.push({ logStreamName: 'kube-apiserver-audit-0', timestamp: 0, ingestionTime: 0, eventId: String(i), message: eventText(templates, i) });
    return records;
  };
  const batchOf = (records: ReturnType<typeof recordsOf>): DeferredRecords => ({ converter: EKS_CONVERTER, context, records, refs: records.map((r) => `eventId ${r.eventId}`) });
  // The pages are held as the bridge holds a page before its SDK parses it: one text
  // each, not a hundred thousand records. A backlog of records made the main thread's collector
  // trace some 600,000 objects the bridge never holds, at every full collection, which was most
  // of what V8's helper threads did here. Each page becomes its records (flat strings, as
  // JSON.parse makes them) when it is handed over, on the clock, as the SDK's parse would. The
  // pages stay held to the end: a hundred strings cost a full collection nothing to mark, but
  // let go one by one they made the old generation shrink all through the run, and V8 started a
  // full collection every few hundred milliseconds (11 in a 4-second run; the helper threads
  // 0.19 to 0.20 cores against 0.13 to 0.14 with the pages held), which the bridge, whose heap
  // holds steady, does not.
  type Page = { text: string; ends: number[]; first: number };
  const pagesOf = (): Page[] => {
    const pages: Page[] = [];
    for (let at = 0; at < count; at += BATCH) {
      const ends: number[] = [];
      let text = '';
      for (const record of recordsOf(at)) {
        text += record.message;
        ends.push(text.length);
      }
      // Flattened once, so that each slice is a slice of one flat string, not of a rope.
      pages.push({ text: text === '' ? text : Buffer.from(text).toString(), ends, first: at });
    }
    return pages;
  };
  const handOver = (page: Page): DeferredRecords => {
    let start = 0;
    return batchOf(
      page.ends.map((end, i) => {
        const record = { logStreamName: 'kube-apiserver-audit-0', timestamp: 0, ingestionTime: 0, eventId: String(page.first + i), message: page.text.slice(start, end) };
        start = end;
        return record;
      }),
    );
  };
  const format = BODY_FORMATS.EventList;
  const owner: BatchState = { state: 'pending', settled: Promise.resolve() };
  /** The pages through the pool, IN_FLIGHT batches at a time, and each answer into a dedupe window and a body; the events delivered. */
  const drain = async (pages: readonly Page[], dedupe: DedupeWindow): Promise<number> => {
    let delivered = 0;
    const inFlight: Promise<PreparedRecords>[] = [];
    let next = 0;
    while (next < pages.length || inFlight.length > 0) {
      while (inFlight.length < IN_FLIGHT && next < pages.length) inFlight.push(preparer.prepare(handOver(pages[next++]!)));
      const prepared = await inFlight.shift()!;
      if (prepared.kind !== 'processed') throw new Error('expected processed records');
      // As the webhook sink builds its bodies from the workers' bytes (Sink.writeEncoded).
      const items: BodyItem[] = [];
      let bytes = 0;
      prepared.keys.forEach((key, i) => {
        if (dedupe.admit(key, owner).kind !== 'new') return;
        const { item, bytes: n } = format.encodedItem(prepared.scrubbed![i]!);
        items.push(item);
        bytes += n;
      });
      delivered += buildBody(format, items, bytes + envelopeBytes(format, items.length)).length > 0 ? items.length : 0;
    }
    return delivered;
  };
  try {
    // The rate is that of a bridge that has run for a while: every worker started, and the code of
    // every thread compiled, before the clock starts. The warm-up is the timed loop itself, over
    // the first of the same pages with a dedupe window of its own. Warmed by jobs sent straight
    // to the workers, the main thread's code (the preparer's answers, the dedupe window, the
    // bodies) was compiled on V8's helper threads on the clock: 106 compilations, 294 ms of their
    // CPU, in a one-worker run of four seconds (`--trace-opt`), and the helpers 0.12 to 0.14 cores;
    // warmed this way, 27 compilations and 64 ms, and the helpers 0.04 to 0.06 cores.
    const pages = pagesOf();
    await drain(pages.slice(0, Math.ceil((WARM_UP_EVENTS * workers) / BATCH)), new DedupeWindow(500_000));
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const threadsAtStart = threadCpuSeconds();
    const start = performance.now();
    const delivered = await drain(pages, new DedupeWindow(500_000));
    const seconds = (performance.now() - start) / 1000;
    const mainBusy = performance.eventLoopUtilization(elu).utilization;
    const used = process.cpuUsage(cpu);
    const threads = { main: 0, workers: 0, helpers: 0 };
    for (const [tid, cpuSeconds] of threadCpuSince(threadsAtStart, threadCpuSeconds())) {
      threads[tid === process.pid ? 'main' : before.has(tid) ? 'helpers' : 'workers'] += cpuSeconds / seconds;
    }
    if (delivered === 0) throw new Error('the pool delivered nothing');
    return { rate: count / seconds, mainBusy, cores: (used.user + used.system) / 1e6 / seconds, threads };
  } finally {
    await preparer.close();
  }
}

/** pooledRate over the workload's templates (buildTemplates' default seed) in a fresh Node process. */
export function pooledRateInChild(count: number, workers: number): Promise<PooledRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${ROOT}dist-bench/bench/pool-child.js`, String(count), String(workers)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as PooledRun) : reject(new Error(`pool-child exited ${code}`))));
  });
}
