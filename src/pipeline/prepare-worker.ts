// The worker thread of the record pool (src/pipeline/prepare.ts): each message is a batch of a
// source's records, packed (src/pipeline/pack.ts); the answer is their events after normalization,
// the process stages and the scrubber, as UTF-8 bytes handed over with the answer. The process
// section of the config comes in workerData and is compiled here once (each worker reads the
// policy file again, as `validate` read it).
import { parentPort, workerData } from 'node:worker_threads';
import type { ProcessConfig } from '../process/config.js';
import { compileProcessing } from '../process/stages.js';
import { fromJob, loadNormalizer, processRecordsToWire, wireTransfers, type PrepareJob, type ProcessedWire, type Variants } from './prepare.js';
import { TextPacker } from './pack.js';
import type { WorkerAnswer } from './worker-pool.js';

/** What the bridge hands each worker. */
export interface PrepareWorkerData {
  process: ProcessConfig;
  variants: Variants;
}

const data = workerData as PrepareWorkerData;
const load = compileProcessing(data.process);
/** Scratch for the answers' texts, kept from job to job (a worker does one job at a time). */
const packers = { scrubbed: new TextPacker(), plain: new TextPacker() };

parentPort!.on('message', async ({ id, job }: { id: number; job: PrepareJob }) => {
  let answer: WorkerAnswer<ProcessedWire>;
  try {
    // The bridge compiled the same section before starting workers: this fails only if the policy file changed since.
    if (!load.processing) throw new Error(`the process section no longer compiles: ${load.problems.join('; ')}`);
    answer = { id, ok: true, result: processRecordsToWire(fromJob(job), await loadNormalizer(job.converter), load.processing, data.variants, packers) };
  } catch (err) {
    answer = { id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(answer, answer.ok ? wireTransfers(answer.result) : []);
});
