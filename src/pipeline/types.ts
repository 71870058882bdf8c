import type { Cursor } from '../checkpoint/store.js';
import type { AuditEvent, Reject } from '../event/event.js';
import type { EncodedEvent } from '../event/encoded.js';
import type { BackoffPolicy } from '../util/backoff.js';

export type { Cursor };

export interface SourceBatch {
  /** The configured source name. */
  source: string;
  /** Normalized, in source order. */
  events: AuditEvent[];
  /** Records that could not be normalized: raw + reason. */
  rejects: Reject[];
  /**
   * Records the source has not normalized: the runner has them normalized, processed and encoded
   * (in a worker thread when there are workers, src/pipeline/prepare.ts). Their events follow
   * `events` and their rejects follow `rejects`.
   */
  deferred?: DeferredRecords;
  /** Where to resume once this batch and all before it are delivered; push sources have none. */
  cursor?: Cursor;
  /**
   * The source has handed over everything it has for now (a poll's last page): sinks that hold
   * events back to fill a batch send them rather than wait out their batchMaxWait for events that
   * will not come before the next poll.
   */
  caughtUp?: boolean;
  /**
   * Push sources (the inbound webhook) answer their sender from this: called once, when every
   * event of the batch has been acknowledged by every sink, or when the pipeline gave up on it.
   */
  settle?: (outcome: BatchOutcome) => void;
}

/**
 * Where a converter lives: its module's path from src/ (or dist/), as `sources/eks/normalize.js`,
 * and the name it is exported under. A reference rather than the object, because a worker thread
 * loads it on its own.
 */
export interface ConverterRef {
  module: string;
  export: string;
}

/** Provider records as read, for the source type's converter (src/component/converter.ts) to normalize. */
export interface DeferredRecords {
  /** The converter that normalizes them (src/component/converter.ts), by module and export. */
  converter: ConverterRef;
  /** What the converter stamps on every event (cluster, region, account). */
  context: Readonly<Record<string, string | undefined>>;
  /** Plain data (structured-cloneable): they cross to a worker thread. */
  records: unknown[];
  /** Each record's place in the source, for messages and the dead-letter file. */
  refs: string[];
  /**
   * When the provider took in each record (epoch ms), where the source knows: the runner observes
   * ingestion_lag_seconds from it and each event's stageTimestamp, as a source that normalizes does.
   * One per record; NaN for a record whose time is not known.
   */
  ingestedMs?: number[];
}

export type BatchOutcome = { delivered: true } | { delivered: false; reason: string };

export interface Source {
  readonly name: string;
  /**
   * Yields batches from `from` on. The pipeline asks for the next batch only while it has a free
   * in-flight slot, which is how backpressure reaches the provider API. The iterator ends when
   * the signal aborts or, in once mode, when the source has caught up.
   */
  batches(from: Cursor | undefined, signal: AbortSignal): AsyncIterable<SourceBatch>;
  /** Polling sources: their poll interval, for readiness (a poll within 3 intervals). */
  readonly pollIntervalMs?: number;
}

export interface Sink {
  readonly name: string;
  /**
   * Resolves only when the destination has acknowledged every event. A sink does not retry: it
   * throws TransientDeliveryError when trying again may help, PermanentDeliveryError (or any other
   * error) when it cannot, and the pipeline retries or narrows (src/pipeline/deliver.ts).
   */
  write(events: readonly AuditEvent[], signal: AbortSignal): Promise<void>;
  /**
   * For sinks that send events as they are encoded: the same as write, for events a worker thread
   * has already encoded (their UTF-8 bytes, src/event/encoded.ts), so that the main thread need not
   * parse them. Optional; a sink without it is written the parsed events.
   */
  writeEncoded?(events: readonly EncodedEvent[], signal: AbortSignal): Promise<void>;
  /**
   * The runner's word that no more events can come before some the sink holds are acknowledged (all
   * its in-flight batches are taken, or the source has ended). A sink that holds events back to fill
   * a batch (the webhook sink's batchMaxWait) must then not sit idle on them: it sends them once
   * nothing else of its own is in flight (while something is, its acknowledgement lets more events
   * come, which fill the batch). Optional.
   */
  flush?(): void;
  close(): Promise<void>;
  /** How long the sink may keep failing before /readyz reports it; default 5 minutes. */
  readonly failureThresholdMs?: number;
  /** The backoff between retries of a failed write; default the pipeline's (1 s to 60 s). */
  readonly retryBackoff?: BackoffPolicy;
}

/** A refusal that retrying will not fix (an HTTP 400, say): the batch goes to the dead-letter file. */
export class PermanentDeliveryError extends Error {
  constructor(
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'PermanentDeliveryError';
  }
}

/** A transient failure; `retryAfterMs` carries a server's Retry-After. */
export class TransientDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientDeliveryError';
  }
}
