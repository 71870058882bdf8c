import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  CloseReason,
  EventHubConsumerClient,
  RetryMode,
  earliestEventPosition,
  parseEventHubConnectionString,
  type CheckpointStore as HubCheckpointStore,
  type EventHubConsumerClientOptions,
  type EventPosition,
  type PartitionContext,
  type ReceivedEventData,
  type Subscription,
} from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import type { SourceContext } from '../../component/source.js';
import type { Cursor, DeferredRecords, Source, SourceBatch } from '../../pipeline/types.js';
import { LogThrottle } from '../../telemetry/log-throttle.js';
import { backoffDelay } from '../../util/backoff.js';
import { createCredential } from '../aks/credential.js';
import type { AksContext } from '../aks/normalize.js';
import { DEFAULT_EVENT_HUB, type AksEventHubsSourceConfig, type CheckpointStoreConfig } from './config.js';
import { bodyText, MESSAGE_CONVERTER, messageRef, normalizeMessage, type MessageOutcome } from './normalize.js';
import { cursorOf, eventPositionAfter, FROM_START, parseCursor, PartitionCheckpointer, type CheckpointEntry, type Position } from './positions.js';

/** closedReason of partitions closed by a resubscription of this source. */
const RESUBSCRIBED = 'Resubscribed';
/** closedReason of a partition this replica gave up after an error and another replica then claimed. */
const MOVED = 'Moved';

/** How often the source tells /readyz how it is; readiness wants a good report within three of these. */
export const HEALTH_INTERVAL_MS = 5000;

// SDK retries for links, connections and management calls. Its defaults wait 30 s between tries,
// which leaves a partition idle for minutes after a dropped connection; an attach or a request
// that gets no answer is given up after 30 s rather than 60.
const RETRY_OPTIONS = { maxRetries: 6, retryDelayInMs: 500, maxRetryDelayInMs: 10_000, mode: RetryMode.Exponential, timeoutInMs: 30_000 };

export interface AksEventHubsSourceOptions {
  /** A credential instead of the config's (tests, the benchmark). */
  credential?: TokenCredential;
}

/**
 * An AKS cluster's kube-audit log from the Event Hub its diagnostic setting writes to, read with
 * EventHubConsumerClient. Each call of a partition's processEvents becomes one batch; the SDK's
 * next call for that partition waits until the pipeline has taken it (a free in-flight slot), so
 * the hub is read only as fast as the sinks acknowledge. Positions are committed after delivery:
 * in the bridge's checkpoint file through batch cursors, or in a Blob checkpoint store shared by
 * several replicas through the batches' settle (positions.ts).
 */
export class AksEventHubsSource implements Source {
  readonly name: string;
  readonly pollIntervalMs = HEALTH_INTERVAL_MS;

  constructor(
    private readonly config: AksEventHubsSourceConfig,
    private readonly ctx: SourceContext,
    private readonly options: AksEventHubsSourceOptions = {},
  ) {
    this.name = config.name;
  }

  batches(from: Cursor | undefined, signal: AbortSignal): AsyncIterable<SourceBatch> {
    return new Stream(this.config, this.ctx, this.options).run(from, signal);
  }
}

interface Taken {
  taken: boolean;
}

/** A processEvents call's batch, waiting for the pipeline to take it. */
interface Queued {
  partitionId: string;
  state: PartitionState;
  /** Normalized here, or (with worker threads) the message texts for the runner's workers. */
  outcome: MessageOutcome | DeferredRecords;
  last: Position;
  resolve: (result: Taken) => void;
}

/** One partition as this replica sees it; a generation is one ownership (processInitialize to processClose). */
interface PartitionState {
  id: string;
  context: PartitionContext | undefined;
  generation: number;
  open: boolean;
  openedAt: number;
  closedAt: number;
  closedReason: string | undefined;
  /** Last call of processEvents, with or without events. */
  lastHeard: number;
  /** A batch of this partition waits for the pipeline: the hub is not being read, and need not be. */
  waiting: boolean;
  /** Received an empty batch since its last events: caught up at that moment. */
  caughtUp: boolean;
  lastError: string | undefined;
  checkpointer: PartitionCheckpointer | undefined;
  /** The store says another replica owns it: this replica stops reading it at its next batch. */
  evict: boolean;
}

class Stream {
  private readonly name: string;
  private readonly log: LogThrottle;
  private readonly normalizeCtx: AksContext;
  private readonly blob: boolean;
  private readonly queue: Queued[] = [];
  private wake: (() => void) | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  /** File mode: the position of the last event taken, per partition. */
  private positions = new Map<string, Position>();
  /** Blob mode: where a partition with no checkpoint starts, pinned when the source subscribed. */
  private readonly pins = new Map<string, Position>();
  /** Start of a relative startPosition, resolved once and kept in the cursor. */
  private startMs: number | undefined;
  private partitionIds: string[] = [];
  private client: EventHubConsumerClient | undefined;
  private subscription: Subscription | undefined;
  private store: HubCheckpointStore | undefined;
  private closing = false;
  private released!: () => void;
  private readonly releasedPromise = new Promise<void>((resolve) => (this.released = resolve));
  private connectedAt: number | undefined;
  private lastNewAt = 0;
  private lastOpenedAt = 0;
  private subscriptionError: { at: number; message: string } | undefined;
  private connectProblem: string | undefined;
  private unhealthySince: number | undefined;
  private reconnecting: Promise<void> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private watching = false;
  private ownershipCheck: { startedAt: number; done: Promise<void> } | undefined;
  /** Blob mode: since when each partition has had no live claim, and what the last read of the claims found wrong. */
  private readonly unclaimedSince = new Map<string, number>();
  private claimProblems: string[] = [];
  /** Aborted when the stream ends: stops a resubscription's connect loop. */
  private readonly stopping = new AbortController();
  private readonly startedAt: number;

  constructor(
    private readonly config: AksEventHubsSourceConfig,
    private readonly ctx: SourceContext,
    private readonly options: AksEventHubsSourceOptions,
  ) {
    this.name = config.name;
    this.log = new LogThrottle(ctx.logger, () => ctx.clock.now());
    this.normalizeCtx = config.clusterName ? { cluster: config.clusterName } : {};
    this.blob = config.checkpointStore !== undefined;
    this.startedAt = ctx.clock.now();
  }

  async *run(from: Cursor | undefined, signal: AbortSignal): AsyncGenerator<SourceBatch> {
    const { logger } = this.ctx;
    const onAbort = (): void => this.wake?.();
    signal.addEventListener('abort', onAbort);
    this.healthTimer = setInterval(() => this.reportHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
    this.watchdogTimer = setInterval(() => void this.watchdog(), 1000);
    this.watchdogTimer.unref();
    try {
      if (!this.blob) {
        const parsed = parseCursor(from, this.config.eventHub, this.config.consumerGroup);
        if (parsed.ok) this.positions = parsed.positions;
        else logger.warn({ problem: parsed.problem, startPosition: this.describeStart() }, 'ignoring the checkpoint: partitions start from startPosition');
        if (parsed.ok && typeof from?.startMs === 'number') this.startMs = from.startMs;
      }
      const pinned = await this.connect(signal);
      if (pinned === undefined) return;
      // File mode: the positions just pinned are committed before anything arrives, so a restart
      // resumes from them and never from a later "latest" that would skip what came in between.
      if (pinned && !this.blob) yield { source: this.name, events: [], rejects: [], cursor: this.cursor() };
      for (;;) {
        const item = await this.next(signal);
        if (!item) break;
        yield this.take(item);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.shutdown();
    }
  }

  // --- connecting -----------------------------------------------------------------------

  /** Subscribes, retrying until it works or the signal aborts. Resolves whether start positions were pinned; undefined when aborted. */
  private async connect(signal: AbortSignal): Promise<boolean | undefined> {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        return await this.subscribe(signal);
      } catch (err) {
        if (signal.aborted) return undefined;
        const message = errorText(err);
        this.connectProblem = message;
        this.ctx.metrics.apiErrors.inc({ source: this.name, code: errorCode(err) });
        this.ctx.health.sourceFailed(this.name, message);
        const delay = backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 });
        this.log.warn('connect', { error: message, attempt, retryInMs: delay }, 'cannot read the Event Hub yet; retrying');
        await this.closeClient();
        try {
          await this.ctx.clock.sleep(delay, signal);
        } catch {
          return undefined;
        }
      }
    }
    return undefined;
  }

  private async subscribe(signal: AbortSignal): Promise<boolean> {
    const { config } = this;
    const client = await this.createClient();
    this.client = client;
    this.partitionIds = await client.getPartitionIds({ abortSignal: signal });
    let pinned = false;
    const start: Record<string, EventPosition> = {};
    for (const id of this.partitionIds) {
      // File mode: the positions taken so far; Blob mode: a pin made earlier in this process (its
      // checkpoints, when there are any, take precedence inside the SDK).
      const known = this.blob ? this.pins.get(id) : this.positions.get(id);
      if (known) {
        start[id] = eventPositionAfter(known);
        continue;
      }
      switch (config.startPosition.kind) {
        case 'earliest':
          start[id] = earliestEventPosition;
          break;
        case 'time':
          start[id] = { enqueuedOn: new Date(config.startPosition.epochMs) };
          break;
        case 'ago':
          if (this.startMs === undefined) {
            this.startMs = this.ctx.clock.now() - config.startPosition.ms;
            pinned = true;
          }
          start[id] = { enqueuedOn: new Date(this.startMs) };
          break;
        case 'latest': {
          // "latest" is where the partition ends now, written down: a restart must not move it.
          const props = await client.getPartitionProperties(id, { abortSignal: signal });
          const pin = props.isEmpty ? FROM_START : { sequenceNumber: props.lastEnqueuedSequenceNumber, offset: props.lastEnqueuedOffset };
          if (this.blob) this.pins.set(id, pin);
          else this.positions.set(id, pin);
          start[id] = eventPositionAfter(pin);
          pinned = true;
          break;
        }
      }
    }
    this.subscription = client.subscribe(
      {
        processInitialize: async (context) => this.onInitialize(context),
        processEvents: async (events, context) => this.onEvents(events, context),
        processError: async (err, context) => this.onError(err, context),
        processClose: async (reason, context) => this.onClose(reason, context),
      },
      {
        startPosition: start,
        maxBatchSize: config.maxBatchSize,
        maxWaitTimeInSeconds: config.maxWaitTime / 1000,
        prefetchCount: config.prefetchCount ?? config.maxBatchSize,
        // Bodies are parsed here: a cut or non-JSON message must become a reject with its size,
        // and the SDK would hand it over as whatever it made of it.
        skipParsingBodyAsJson: true,
      },
    );
    this.connectedAt = this.ctx.clock.now();
    this.lastNewAt = this.connectedAt;
    this.connectProblem = undefined;
    this.ctx.logger.info(
      {
        eventHub: config.eventHub,
        consumerGroup: config.consumerGroup,
        partitions: this.partitionIds.length,
        positions: this.blob ? 'blob checkpoint store' : 'checkpoint file',
        resumed: this.blob ? undefined : this.positions.size,
        startPosition: this.describeStart(),
      },
      'subscribed to the Event Hub',
    );
    return pinned;
  }

  private async createClient(): Promise<EventHubConsumerClient> {
    const { config } = this;
    const store = this.blob ? await this.checkpointStore(config.checkpointStore!) : undefined;
    this.store = store;
    const clientOptions: EventHubConsumerClientOptions = {
      // The owner id in the checkpoint store; readable there when partitions move.
      identifier: `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      retryOptions: RETRY_OPTIONS,
      userAgent: 'kube-audit-bridge',
      loadBalancingOptions: {
        strategy: config.loadBalancing.strategy,
        updateIntervalInMs: config.loadBalancing.updateInterval,
        partitionOwnershipExpirationIntervalInMs: config.loadBalancing.ownershipExpiration,
      },
    };
    if (config.connectionStringFile) {
      const connectionString = await readSecret(config.connectionStringFile, 'connectionStringFile');
      let entityPath: string | undefined;
      try {
        entityPath = parseEventHubConnectionString(connectionString).eventHubName;
      } catch {
        // The file's content is a secret: say what is wrong with it, never what it holds.
        throw new Error(`connectionStringFile ${config.connectionStringFile}: not an Event Hubs connection string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...)`);
      }
      if (entityPath !== undefined && entityPath !== config.eventHub) {
        throw new Error(`connectionStringFile ${config.connectionStringFile}: its EntityPath is ${JSON.stringify(entityPath)} but eventHub is ${JSON.stringify(config.eventHub)}; set eventHub to match${config.eventHub === DEFAULT_EVENT_HUB ? ' (the default is insights-logs-kube-audit)' : ''}`);
      }
      if (entityPath !== undefined) {
        return store ? new EventHubConsumerClient(config.consumerGroup, connectionString, store, clientOptions) : new EventHubConsumerClient(config.consumerGroup, connectionString, clientOptions);
      }
      return store
        ? new EventHubConsumerClient(config.consumerGroup, connectionString, config.eventHub, store, clientOptions)
        : new EventHubConsumerClient(config.consumerGroup, connectionString, config.eventHub, clientOptions);
    }
    const namespace = config.fullyQualifiedNamespace;
    if (!namespace) throw new Error('fullyQualifiedNamespace or connectionStringFile is required');
    const credential = this.options.credential ?? createCredential(config.credential ?? { type: 'default' });
    return store
      ? new EventHubConsumerClient(config.consumerGroup, namespace, config.eventHub, credential, store, clientOptions)
      : new EventHubConsumerClient(config.consumerGroup, namespace, config.eventHub, credential, clientOptions);
  }

  private async checkpointStore(config: CheckpointStoreConfig): Promise<BlobCheckpointStore> {
    if (config.connectionStringFile) {
      const connectionString = await readSecret(config.connectionStringFile, 'checkpointStore.connectionStringFile');
      if (!config.containerName) throw new Error('checkpointStore.containerName is required with checkpointStore.connectionStringFile');
      try {
        return new BlobCheckpointStore(new ContainerClient(connectionString, config.containerName));
      } catch {
        throw new Error(`checkpointStore.connectionStringFile ${config.connectionStringFile}: not a storage connection string (DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...)`);
      }
    }
    if (!config.containerUrl) throw new Error('checkpointStore needs containerUrl or connectionStringFile');
    const credential = this.options.credential ?? createCredential(config.credential ?? this.config.credential ?? { type: 'default' });
    return new BlobCheckpointStore(new ContainerClient(config.containerUrl, credential));
  }

  // --- the SDK's handlers ---------------------------------------------------------------

  private state(id: string): PartitionState {
    let state = this.partitions.get(id);
    if (!state) {
      state = { id, context: undefined, generation: 0, open: false, openedAt: 0, closedAt: 0, closedReason: undefined, lastHeard: 0, waiting: false, caughtUp: false, lastError: undefined, checkpointer: undefined, evict: false };
      this.partitions.set(id, state);
    }
    return state;
  }

  private async onInitialize(context: PartitionContext): Promise<void> {
    const now = this.ctx.clock.now();
    const state = this.state(context.partitionId);
    state.checkpointer?.close();
    state.context = context;
    state.generation++;
    state.open = true;
    state.openedAt = now;
    state.lastHeard = now;
    state.closedReason = undefined;
    state.caughtUp = false;
    state.lastError = undefined;
    state.evict = false;
    this.lastOpenedAt = now;
    state.checkpointer = this.blob
      ? new PartitionCheckpointer({
          write: (position) => context.updateCheckpoint(asEventData(position)),
          onError: (err, position) => {
            this.ctx.metrics.apiErrors.inc({ source: this.name, code: errorCode(err) });
            this.log.warn('checkpoint', { partition: context.partitionId, sequenceNumber: position.sequenceNumber, error: errorText(err) }, 'writing a checkpoint to the Blob store failed; retrying (a newer batch writes a newer one)');
          },
        })
      : undefined;
    this.ctx.logger.info({ partition: context.partitionId, generation: state.generation }, 'reading partition');
    const pin = this.pins.get(context.partitionId);
    if (this.blob && pin?.offset !== undefined && pin.sequenceNumber >= 0) await this.writePin(context, pin);
  }

  /**
   * A partition claimed with no checkpoint started at the position pinned for "latest" when the
   * source subscribed; writing it down keeps a later start from skipping what arrives meanwhile.
   */
  private async writePin(context: PartitionContext, pin: Position): Promise<void> {
    try {
      const existing = await this.store!.listCheckpoints(context.fullyQualifiedNamespace, context.eventHubName, context.consumerGroup);
      if (existing.some((c) => c.partitionId === context.partitionId)) return;
      await context.updateCheckpoint(asEventData(pin));
    } catch (err) {
      this.log.warn('checkpoint', { partition: context.partitionId, error: errorText(err) }, 'could not write the start position of a new partition to the Blob store');
    }
  }

  private async onEvents(events: ReceivedEventData[], context: PartitionContext): Promise<void> {
    const now = this.ctx.clock.now();
    const state = this.state(context.partitionId);
    state.lastHeard = now;
    if (this.closing) return this.releasedPromise;
    if (state.context !== context || !state.open) return;
    // Thrown, not retryable: the SDK stops this partition's pump (there is no other way to stop one).
    if (state.evict) throw new EvictedError(context.partitionId);
    if (events.length === 0) {
      state.caughtUp = true;
      return;
    }
    state.caughtUp = false;
    state.lastError = undefined;
    this.lastNewAt = now;
    const outcome = this.ctx.deferNormalization ? this.defer(events, context.partitionId) : this.normalize(events, context.partitionId);
    const lastEvent = events[events.length - 1]!;
    const last: Position = { sequenceNumber: lastEvent.sequenceNumber, offset: lastEvent.offset };
    state.waiting = true;
    const waitStarted = this.ctx.clock.now();
    const result = await new Promise<Taken>((resolve) => {
      this.queue.push({ partitionId: context.partitionId, state, outcome, last, resolve });
      this.wake?.();
    });
    state.waiting = false;
    state.lastHeard = this.ctx.clock.now();
    if (!result.taken) {
      if (this.closing) return this.releasedPromise;
      if (state.evict && state.context === context) throw new EvictedError(context.partitionId);
      return;
    }
    // A claim by another replica that came while this call waited detached the link unnoticed,
    // and the SDK's next receive would attach again and take the partition back (evictForeign):
    // after a long wait the claims are read before the SDK receives again.
    if (this.blob && state.lastHeard - waitStarted > this.config.maxWaitTime) {
      await this.checkOwnership(waitStarted);
      if (state.evict && state.context === context && !this.closing) throw new EvictedError(context.partitionId);
    }
    if (!this.blob) {
      // The SDK's in-memory store: where it restarts this partition's pump after an error (it
      // would otherwise go back to the subscription's start position). Not a commit: the
      // bridge's checkpoint file moves only with delivered cursors.
      try {
        await context.updateCheckpoint(lastEvent);
      } catch {
        // In memory; cannot fail in practice, and a restart from further back only repeats.
      }
    }
  }

  private onError(err: Error, context: PartitionContext): void {
    if (err instanceof EvictedError) return;
    const message = errorText(err);
    this.ctx.metrics.apiErrors.inc({ source: this.name, code: errorCode(err) });
    if (this.closing) return;
    if (!context.partitionId) {
      this.subscriptionError = { at: this.ctx.clock.now(), message };
      this.log.warn('hub', { error: message }, 'Event Hubs error; the SDK retries on its next load-balancing round');
      return;
    }
    const state = this.state(context.partitionId);
    state.lastError = message;
    const retryable = (err as { retryable?: unknown }).retryable === true;
    this.log.warn(`partition:${context.partitionId}`, { partition: context.partitionId, error: message, retryable }, retryable ? 'partition error; the SDK retries' : 'partition error; the partition restarts on the next load-balancing round');
  }

  private async onClose(reason: CloseReason, context: PartitionContext): Promise<void> {
    const state = this.state(context.partitionId);
    if (state.context !== context) return;
    state.open = false;
    state.closedAt = this.ctx.clock.now();
    state.closedReason = reason;
    state.checkpointer?.close();
    // Its batch that the pipeline has not taken is dropped: never committed, so read again.
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const item = this.queue[i]!;
      if (item.state === state) {
        this.queue.splice(i, 1);
        item.resolve({ taken: false });
      }
    }
    if (this.closing) return;
    if (state.evict) state.closedReason = MOVED;
    if (reason === CloseReason.OwnershipLost || state.evict) {
      this.ctx.logger.info({ partition: context.partitionId }, 'partition moved to another replica');
      return;
    }
    // The SDK stopped the partition after an error it does not retry (a dropped connection while
    // a link attaches surfaces as "Unknown error encountered."). Without a store its next
    // load-balancing round restarts it; with one, this replica still owns it and would wait for
    // its own claim to expire, so the claim is given up for the next round to take it again.
    this.log.warn(`closed:${context.partitionId}`, { partition: context.partitionId, error: state.lastError }, 'partition stopped after an error; restarting it on the next load-balancing round');
    if (this.blob) await this.abandon(context);
  }

  private async abandon(context: PartitionContext): Promise<void> {
    const store = this.store;
    const owner = this.client?.identifier;
    if (!store || !owner) return;
    try {
      const ours = (await store.listOwnership(context.fullyQualifiedNamespace, context.eventHubName, context.consumerGroup)).filter(
        (o) => o.partitionId === context.partitionId && o.ownerId === owner,
      );
      if (ours.length > 0) await store.claimOwnership(ours.map((o) => ({ ...o, ownerId: '' })));
    } catch (err) {
      this.log.warn('abandon', { partition: context.partitionId, error: errorText(err) }, 'could not give up the claim on a stopped partition; it restarts when the claim expires');
    }
  }

  // --- handing batches to the pipeline ---------------------------------------------------

  private async next(signal: AbortSignal): Promise<Queued | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      const item = this.queue.shift();
      if (item) return item;
      if (this.ctx.once && this.quiet()) {
        this.ctx.logger.info({ quietMs: this.config.quietPeriod }, 'run --once: nothing new for the quiet period; finishing');
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (this.ctx.once) setTimeout(resolve, Math.min(250, this.config.quietPeriod)).unref();
      });
      this.wake = undefined;
    }
  }

  /** The messages' records normalized on this thread, with the ingestion lag of each message's first event. */
  private normalize(events: ReceivedEventData[], partitionId: string): MessageOutcome {
    const outcome: MessageOutcome = { events: [], rejects: [], records: 0 };
    for (const event of events) {
      const before = outcome.events.length;
      normalizeMessage(event.body, this.normalizeCtx, messageRef(partitionId, event.sequenceNumber), outcome);
      const first = outcome.events[before];
      if (first) {
        const lag = (event.enqueuedTimeUtc.getTime() - Date.parse(first.stageTimestamp)) / 1000;
        if (Number.isFinite(lag)) this.ctx.metrics.ingestionLag.observe({ source: this.name }, Math.max(0, lag));
      }
    }
    return outcome;
  }

  /**
   * The messages for the runner's worker threads (SourceBatch.deferred): each body as text (a Buffer
   * would take its whole backing store across), with when the hub took it in.
   */
  private defer(events: ReceivedEventData[], partitionId: string): DeferredRecords {
    return {
      converter: MESSAGE_CONVERTER,
      context: this.normalizeCtx.cluster ? { cluster: this.normalizeCtx.cluster } : {},
      records: events.map((e) => bodyText(e.body)),
      refs: events.map((e) => messageRef(partitionId, e.sequenceNumber)),
      ingestedMs: events.map((e) => e.enqueuedTimeUtc.getTime()),
    };
  }

  private take(item: Queued): SourceBatch {
    const batch: SourceBatch =
      'converter' in item.outcome
        ? { source: this.name, events: [], rejects: [], deferred: item.outcome }
        : { source: this.name, events: item.outcome.events, rejects: item.outcome.rejects };
    const checkpointer = item.state.checkpointer;
    if (this.blob && checkpointer) {
      const entry: CheckpointEntry = checkpointer.add(item.last);
      batch.settle = (outcome) => checkpointer.settle(entry, outcome.delivered);
    } else if (!this.blob) {
      const known = this.positions.get(item.partitionId);
      if (!known || item.last.sequenceNumber > known.sequenceNumber) this.positions.set(item.partitionId, item.last);
      batch.cursor = this.cursor();
    }
    item.resolve({ taken: true });
    return batch;
  }

  private cursor(): Cursor {
    const cursor: Cursor = cursorOf(this.config.eventHub, this.config.consumerGroup, this.positions);
    if (this.startMs !== undefined) cursor.startMs = this.startMs;
    return cursor;
  }

  /** run --once: nothing new for quietPeriod, from every partition this replica reads. */
  private quiet(): boolean {
    const now = this.ctx.clock.now();
    if (this.connectedAt === undefined || this.queue.length > 0) return false;
    if (now - this.lastNewAt < this.config.quietPeriod) return false;
    if (this.blob) {
      // Partitions are claimed one load-balancing round at a time; the last claim must be a quiet period old.
      const opened = [...this.partitions.values()].some((p) => p.openedAt > 0);
      const settled = now - this.lastOpenedAt >= this.config.quietPeriod;
      return settled && (opened || now - this.connectedAt >= this.config.quietPeriod + this.config.loadBalancing.ownershipExpiration);
    }
    return this.partitionIds.every((id) => {
      const p = this.partitions.get(id);
      return p !== undefined && p.open && p.caughtUp;
    });
  }

  // --- health ----------------------------------------------------------------------------

  private problems(now: number): string[] {
    if (this.connectedAt === undefined) return [this.connectProblem ?? 'connecting to the Event Hub'];
    const problems: string[] = [];
    const silence = silenceMs(this.config);
    const restart = 2 * this.config.loadBalancing.updateInterval + 10_000;
    let heard = false;
    for (const p of this.partitions.values()) {
      if (p.open && (p.waiting || now - p.lastHeard <= silence)) heard = true;
      if (p.open && !p.waiting && now - p.lastHeard > silence) {
        problems.push(`partition ${p.id}: nothing from the hub for ${Math.round((now - p.lastHeard) / 1000)} s${p.lastError ? ` (${p.lastError})` : ''}`);
      }
      // With a store, a partition that left this replica is another's to read, unless an error stopped it here.
      const ours = this.blob ? p.closedReason === CloseReason.Shutdown : p.closedReason !== CloseReason.OwnershipLost;
      if (!p.open && ours && now - p.closedAt > restart && !this.closing) {
        problems.push(`partition ${p.id} stopped ${Math.round((now - p.closedAt) / 1000)} s ago and has not restarted${p.lastError ? ` (${p.lastError})` : ''}`);
      }
    }
    if (!this.blob && now - this.connectedAt > restart) {
      const never = this.partitionIds.filter((id) => !this.partitions.has(id));
      if (never.length > 0) problems.push(`partitions ${never.join(', ')} not read yet`);
    }
    const error = this.subscriptionError;
    if (error && now - error.at < 2 * HEALTH_INTERVAL_MS && !heard) problems.push(error.message);
    problems.push(...this.claimProblems);
    return problems;
  }

  private reportHealth(): void {
    if (this.closing) return;
    const now = this.ctx.clock.now();
    const problems = this.problems(now);
    if (problems.length === 0) {
      this.unhealthySince = undefined;
      this.ctx.health.sourcePolled(this.name);
      return;
    }
    this.ctx.health.sourceFailed(this.name, problems.join('; '));
    this.unhealthySince ??= now;
    // Unwell for long: a new client (the connection string file read again, a new connection).
    if (this.connectedAt !== undefined && now - this.unhealthySince > rebuildAfterMs(this.config)) {
      this.unhealthySince = undefined;
      this.resubscribe('the Event Hub subscription has not been well for long', problems);
    }
  }

  /**
   * A partition the SDK stopped after an error is restarted by its load-balancing loop, but that
   * loop first asks the hub for its partitions, and when the same dropped connection took that
   * request with it the SDK waits its default 30 s before asking again (its management calls in
   * the loop do not take the client's retry options). A partition stopped for longer than two
   * rounds is therefore restarted here, with the whole subscription.
   */
  private async watchdog(): Promise<void> {
    if (this.closing || this.connectedAt === undefined || this.watching) return;
    const now = this.ctx.clock.now();
    if (this.blob && now - (this.ownershipCheck?.startedAt ?? 0) >= Math.max(1000, this.config.loadBalancing.updateInterval)) {
      this.watching = true;
      try {
        await this.checkOwnership(now);
      } finally {
        this.watching = false;
      }
      if (this.claimProblems.length > 0 && !this.closing && this.connectedAt !== undefined) {
        this.resubscribe('the load-balancing loop has stopped renewing and claiming partitions', this.claimProblems);
        return;
      }
    }
    if (!this.blob) {
      // Without a store this replica reads every partition; one not read for two rounds is not coming back by itself.
      const restart = 2 * this.config.loadBalancing.updateInterval + 5000;
      const connectedAt = this.connectedAt ?? now;
      const idleFor = (id: string): number => now - Math.max(connectedAt, this.partitions.get(id)?.closedAt ?? 0);
      const idle = this.partitionIds.filter((id) => !this.partitions.get(id)?.open && idleFor(id) > restart);
      if (idle.length > 0) {
        this.resubscribe('a partition is not being read', idle.map((id) => `partition ${id}: not read for ${Math.round(idleFor(id) / 1000)} s`));
        return;
      }
    }
    const grace = 2 * this.config.loadBalancing.updateInterval + 2000;
    const silent = [...this.partitions.values()].filter((p) => p.open && !p.waiting && now - p.lastHeard > silenceMs(this.config));
    if (silent.length > 0) {
      this.resubscribe('a partition has had no answer from the hub for long', silent.map((p) => `partition ${p.id}: silent for ${Math.round((now - p.lastHeard) / 1000)} s${p.lastError ? ` (${p.lastError})` : ''}`));
      return;
    }
    let stuck = [...this.partitions.values()].filter((p) => !p.open && p.closedReason === CloseReason.Shutdown && now - p.closedAt > grace);
    if (stuck.length === 0) return;
    this.watching = true;
    try {
      if (this.blob && this.store && this.client) {
        // A partition this replica gave up may have been claimed by another one meanwhile: not ours to restart.
        const owners = await this.store.listOwnership(this.client.fullyQualifiedNamespace, this.client.eventHubName, this.config.consumerGroup);
        const expiry = this.config.loadBalancing.ownershipExpiration;
        for (const p of stuck) {
          const owner = owners.find((o) => o.partitionId === p.id);
          const fresh = owner?.lastModifiedTimeInMs !== undefined && Date.now() - owner.lastModifiedTimeInMs < expiry;
          if (owner && fresh && owner.ownerId !== '' && owner.ownerId !== this.client?.identifier) p.closedReason = MOVED;
        }
        stuck = stuck.filter((p) => p.closedReason === CloseReason.Shutdown);
      }
      if (stuck.length === 0 || this.closing) return;
      this.resubscribe(
        'a partition stopped by an error has not been restarted by the load-balancing loop',
        stuck.map((p) => `partition ${p.id}${p.lastError ? `: ${p.lastError}` : ''}`),
      );
    } catch (err) {
      this.log.warn('watchdog', { error: errorText(err) }, 'could not read the partition claims from the Blob store');
    } finally {
      this.watching = false;
    }
  }

  /**
   * A replica that claims a partition attaches with owner level 0 and the hub detaches the
   * previous reader; but when that reader's SDK is inside processEvents (here: waiting for the
   * pipeline) when the detach comes, it re-attaches at its next receive and takes the partition
   * back, and both replicas then read it in turn. The claims in the store decide: a partition
   * another replica holds a live claim on is given up here.
   */
  /** Reads the claims, unless a read that started after `since` is under way or done; shared by concurrent callers. */
  private checkOwnership(since: number): Promise<void> {
    if (this.ownershipCheck && this.ownershipCheck.startedAt >= since) return this.ownershipCheck.done;
    const startedAt = this.ctx.clock.now();
    const done = this.evictForeign().catch((err: unknown) => {
      this.log.warn('watchdog', { error: errorText(err) }, 'could not read the partition claims from the Blob store');
    });
    this.ownershipCheck = { startedAt, done };
    return done;
  }

  private async evictForeign(): Promise<void> {
    const client = this.client;
    if (!this.store || !client) return;
    const owners = await this.store.listOwnership(client.fullyQualifiedNamespace, client.eventHubName, this.config.consumerGroup);
    const me = client.identifier;
    const { ownershipExpiration, updateInterval } = this.config.loadBalancing;
    const now = Date.now();
    const live = (o: { ownerId: string; lastModifiedTimeInMs?: number } | undefined): boolean =>
      o !== undefined && o.ownerId !== '' && o.lastModifiedTimeInMs !== undefined && now - o.lastModifiedTimeInMs < ownershipExpiration;
    for (const p of this.partitions.values()) {
      if (!p.open || p.evict) continue;
      const owner = owners.find((o) => o.partitionId === p.id);
      if (!owner || !live(owner) || owner.ownerId === me) continue;
      p.evict = true;
      this.ctx.logger.info({ partition: p.id, owner: owner.ownerId }, 'another replica holds the claim on a partition this one still reads; giving it up');
      // A batch waiting for the pipeline is dropped, which lets its processEvents give the partition up.
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const item = this.queue[i]!;
        if (item.state === p) {
          this.queue.splice(i, 1);
          item.resolve({ taken: false });
        }
      }
    }
    // The SDK's load-balancing loop renews this replica's claims and claims free partitions every
    // round; when a management call of the round was lost with its connection it sleeps 30 s
    // between retries, and then nothing is renewed or claimed. Both show in the store.
    const problems: string[] = [];
    const renewGrace = 3 * updateInterval + 2000;
    for (const o of owners) {
      if (o.ownerId === me && o.lastModifiedTimeInMs !== undefined && now - o.lastModifiedTimeInMs > renewGrace) {
        problems.push(`partition ${o.partitionId}: this replica's claim not renewed for ${Math.round((now - o.lastModifiedTimeInMs) / 1000)} s`);
      }
    }
    const claimGrace = ownershipExpiration + (this.partitionIds.length + 1) * updateInterval;
    for (const id of this.partitionIds) {
      if (live(owners.find((o) => o.partitionId === id))) {
        this.unclaimedSince.delete(id);
        continue;
      }
      const since = this.unclaimedSince.get(id) ?? now;
      this.unclaimedSince.set(id, since);
      if (now - since > claimGrace) problems.push(`partition ${id}: claimed by no replica for ${Math.round((now - since) / 1000)} s`);
    }
    this.claimProblems = problems;
  }

  private resubscribe(why: string, problems: string[]): void {
    if (this.reconnecting || this.closing) return;
    this.ctx.logger.warn({ problems }, `${why}; subscribing again`);
    this.reconnecting = this.reconnect().finally(() => (this.reconnecting = undefined));
  }

  private async reconnect(): Promise<void> {
    const now = this.ctx.clock.now();
    const old = { subscription: this.subscription, client: this.client };
    this.subscription = undefined;
    this.client = undefined;
    this.connectedAt = undefined;
    // Its partitions close with it, here rather than in onClose (this is no error to act on):
    // what they had waiting for the pipeline is dropped, and the new subscription starts from the
    // positions taken so far (file) or from the store's checkpoints.
    for (const p of this.partitions.values()) {
      p.checkpointer?.close();
      p.context = undefined;
      if (p.open) {
        p.open = false;
        p.closedAt = now;
      }
      if (p.closedReason !== CloseReason.OwnershipLost) p.closedReason = RESUBSCRIBED;
    }
    for (const item of this.queue.splice(0)) item.resolve({ taken: false });
    this.claimProblems = [];
    this.unclaimedSince.clear();
    await closeQuietly(old.subscription, old.client);
    await this.connect(this.stopping.signal);
  }

  // --- closing ---------------------------------------------------------------------------

  private async shutdown(): Promise<void> {
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    // With a Blob store the claims are kept until every batch taken is delivered and its
    // checkpoint written, so the replica that takes the partitions over starts after them.
    if (this.blob) {
      const idle = Promise.all([...this.partitions.values()].map((p) => p.checkpointer?.idle() ?? Promise.resolve()));
      await Promise.race([idle, new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
    }
    this.closing = true;
    this.stopping.abort();
    for (const item of this.queue.splice(0)) item.resolve({ taken: false });
    await this.reconnecting;
    await this.closeClient();
    this.released();
  }

  private async closeClient(): Promise<void> {
    const { subscription, client } = this;
    this.subscription = undefined;
    this.client = undefined;
    await closeQuietly(subscription, client);
  }

  private describeStart(): string {
    const s = this.config.startPosition;
    return s.kind === 'time' ? new Date(s.epochMs).toISOString() : s.kind === 'ago' ? `-${s.ms / 1000}s` : s.kind;
  }
}

/**
 * A partition's receiver answers every maxWaitTime, with events or without; one that has said
 * nothing for this long is stuck (a link whose attach was lost with its connection never answers).
 */
function silenceMs(config: AksEventHubsSourceConfig): number {
  return Math.max(5000, 5 * config.maxWaitTime, 3 * config.loadBalancing.updateInterval);
}

/** Thrown from processEvents to make the SDK stop a partition another replica owns. */
class EvictedError extends Error {
  constructor(partitionId: string) {
    super(`partition ${partitionId} is claimed by another replica`);
    this.name = 'EvictedError';
  }
}

function rebuildAfterMs(config: AksEventHubsSourceConfig): number {
  return Math.max(60_000, 2 * config.loadBalancing.ownershipExpiration);
}

async function closeQuietly(subscription: Subscription | undefined, client: EventHubConsumerClient | undefined): Promise<void> {
  try {
    await subscription?.close();
  } catch {
    // closing after a failure: nothing more to do
  }
  try {
    await client?.close();
  } catch {
    // as above
  }
}

/** What PartitionContext.updateCheckpoint reads of an event: its sequence number and offset (both required by the Blob store). */
function asEventData(position: Position): ReceivedEventData {
  if (position.offset === undefined) throw new Error(`no offset for sequence number ${position.sequenceNumber}`);
  return { sequenceNumber: position.sequenceNumber, offset: position.offset } as unknown as ReceivedEventData;
}

async function readSecret(file: string, key: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new Error(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (text === '') throw new Error(`${key}: ${file} is empty`);
  return text;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code !== '') return code.slice(0, 60);
  return err instanceof Error ? err.name.slice(0, 60) : 'unknown';
}
