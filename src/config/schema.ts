import { z } from 'zod';
import { duration, filePath, positiveInt } from './fields.js';
import { sinkSchema } from './sinks.js';
import { sourceSchema } from './sources.js';
import { processSchema } from '../process/config.js';

// The whole configuration (config/example.yaml shows every key). Each source's and sink's section is
// its component's schema (src/registry.ts); the process section is src/process/config.ts.
const pipelineSchema = z.strictObject({
  /** Undelivered batches a source may have before it stops fetching. */
  maxInFlightBatches: positiveInt('a whole number of batches, at least 1').default(4),
  /**
   * Worker threads that normalize, process, scrub and encode the records of the sources that hand
   * them over (src/pipeline/prepare.ts): `auto` (one per CPU the process may use beside the main
   * thread's, a container's CPU limit included, at most 4; none on one CPU), a number, or 0 to do it all on the main thread.
   */
  workers: z
    .union([z.literal('auto'), z.number().int().min(0).max(64)], { error: 'auto, or a whole number of worker threads from 0 to 64' })
    .default('auto'),
  /** On SIGTERM, how long in-flight deliveries may take before the process exits anyway. */
  shutdownTimeout: duration().prefault('30s'),
  /** A source whose oldest undelivered batch waits longer than this is reported on /readyz and in source_stalled. */
  stallThreshold: duration({ min: 1000 }).prefault('5m'),
});

const checkpointSchema = z.strictObject({
  type: z.literal('file').default('file'),
  path: filePath.default('checkpoints.json'),
  /** How often the dedupe window is written beside the checkpoint (cursors are written on every commit). */
  dedupeSaveInterval: duration({ min: 100 }).prefault('10s'),
});

const deadLetterSchema = z.strictObject({
  path: filePath.default('dead-letter.jsonl'),
  /**
   * Keep raw records that could not be parsed and sinks' refusal answers as received. They may hold
   * Secret values the scrubber cannot find, so by default only their size and SHA-256 are kept.
   */
  keepRaw: z.boolean().default(false),
  /** Scrub events written here as sinks' output is scrubbed; default process.scrubSecrets. */
  scrubSecrets: z.boolean().optional(),
});

const PORT_HINT = 'a TCP port from 0 to 65535';
const port = z.number({ error: PORT_HINT }).int({ message: PORT_HINT }).min(0, { message: PORT_HINT }).max(65535, { message: PORT_HINT });

const serverSchema = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  port: port.default(8080),
  /** HTTPS on the server port; the files are read again when they change (cert-manager renewals). */
  tls: z
    .strictObject({
      certFile: filePath,
      keyFile: filePath,
      /** Ask senders for a client certificate signed by this CA; webhook sources then require one. */
      clientCaFile: filePath.optional(),
      /** How often the files are checked for a change. */
      reloadInterval: duration({ min: 1000 }).prefault('1m'),
    })
    .optional(),
  /**
   * Serve /metrics, /healthz and /readyz on a port of their own (plain HTTP) instead of the server
   * port, so that a NetworkPolicy can admit scrapers there and only senders on the audit port.
   */
  telemetry: z.strictObject({ host: z.string().min(1).optional(), port }).optional(),
  /** Open connections per port; beyond it a new connection is closed at once. */
  maxConnections: positiveInt('a whole number of connections, at least 1').default(256),
  /** The HTML status page at / on the port of the probes (no payload, no config value but names). */
  statusPage: z.boolean().default(true),
});

const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

// Names unique among sources and among sinks: checked by the loader on the raw input (load.ts),
// so that the report is complete even when other fields fail.
export const configSchema = z.strictObject({
  sources: z.array(sourceSchema).min(1, { message: 'a list with at least one source' }),
  process: processSchema.prefault({}),
  sinks: z.array(sinkSchema).min(1, { message: 'a list with at least one sink' }),
  pipeline: pipelineSchema.prefault({}),
  checkpoint: checkpointSchema.prefault({}),
  deadLetter: deadLetterSchema.prefault({}),
  server: serverSchema.prefault({}),
  log: logSchema.prefault({}),
});

export type Config = z.output<typeof configSchema>;
