import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'kube_audit_bridge_';

/**
 * The bridge's metrics (the README's Operations section lists them), on a registry of their own so that several pipelines
 * (tests, the demo) can live in one process.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly collectors: (() => void)[] = [];

  readonly eventsReceived = new Counter({
    name: `${PREFIX}events_received_total`,
    help: 'Events produced by a source after normalization.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: `${PREFIX}events_rejected_total`,
    help: 'Records a source could not normalize, by reason; each is in the dead-letter file.',
    labelNames: ['source', 'reason'],
    registers: [this.registry],
  });
  readonly eventsDeduplicated = new Counter({
    name: `${PREFIX}events_deduplicated_total`,
    help: 'Events dropped because their (auditID, stage) was already delivered or in flight.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: `${PREFIX}events_dropped_total`,
    help: 'Events removed by a processing stage, by stage: policy (level None or an omitted stage) or filter (process.drop / process.keep).',
    labelNames: ['source', 'stage'],
    registers: [this.registry],
  });
  readonly eventsScrubbed = new Counter({
    name: `${PREFIX}events_scrubbed_total`,
    help: 'Events a sink received with values redacted (Secret data, tokens, scrubPaths), by sink.',
    labelNames: ['sink'],
    registers: [this.registry],
  });
  readonly eventsDelivered = new Counter({
    name: `${PREFIX}events_delivered_total`,
    help: 'Events a sink has acknowledged.',
    labelNames: ['sink'],
    registers: [this.registry],
  });
  readonly sinkWriteDuration = new Histogram({
    name: `${PREFIX}sink_write_duration_seconds`,
    help: 'Time from handing a batch to a sink until it acknowledged, retries included.',
    labelNames: ['sink'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly sinkRetries = new Counter({
    name: `${PREFIX}sink_retries_total`,
    help: 'Writes to a sink tried again after a transient failure (the pipeline retries; sinks never do).',
    labelNames: ['sink'],
    registers: [this.registry],
  });
  readonly sinkFailing = new Gauge({
    name: `${PREFIX}sink_failing`,
    help: '1 while a sink has been failing for longer than its threshold.',
    labelNames: ['sink'],
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: `${PREFIX}dead_letter_total`,
    help: 'Records written to the dead-letter file: rejects and batches a sink refused permanently.',
    labelNames: ['kind', 'component'],
    registers: [this.registry],
  });
  readonly inFlightBatches = new Gauge({
    name: `${PREFIX}in_flight_batches`,
    help: 'Batches of a source handed to the sinks and not yet acknowledged by all of them.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly sourceLag = new Gauge({
    name: `${PREFIX}source_lag_seconds`,
    help: 'Now minus the stageTimestamp of the newest event delivered from a source.',
    labelNames: ['source'],
    registers: [this.registry],
    collect: () => this.runCollectors(),
  });
  readonly checkpointAge = new Gauge({
    name: `${PREFIX}checkpoint_age_seconds`,
    help: 'Time since the checkpoint of a source was last committed.',
    labelNames: ['source'],
    registers: [this.registry],
    collect: () => this.runCollectors(),
  });
  readonly sourceStalled = new Gauge({
    name: `${PREFIX}source_stalled`,
    help: '1 while the oldest undelivered batch of a source has waited longer than pipeline.stallThreshold, by what it waits for (a sink, the dead-letter file, the process stage).',
    labelNames: ['source', 'waiting_for'],
    registers: [this.registry],
    collect: () => this.runCollectors(),
  });
  readonly sourceBlocked = new Gauge({
    name: `${PREFIX}source_oldest_undelivered_seconds`,
    help: 'Age of the oldest batch of a source that is not yet delivered to every sink (0 when none is waiting).',
    labelNames: ['source'],
    registers: [this.registry],
    collect: () => this.runCollectors(),
  });
  readonly checkpointCommits = new Counter({
    name: `${PREFIX}checkpoint_commits_total`,
    help: 'Checkpoint writes that completed.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly pollDuration = new Histogram({
    name: `${PREFIX}poll_duration_seconds`,
    help: 'Duration of one poll of a provider API, all pages included.',
    labelNames: ['source'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 180],
    registers: [this.registry],
  });
  readonly apiErrors = new Counter({
    name: `${PREFIX}api_errors_total`,
    help: 'Errors from a provider API, by code; throttling included.',
    labelNames: ['source', 'code'],
    registers: [this.registry],
  });
  readonly sourceLastingErrors = new Counter({
    name: `${PREFIX}source_lasting_errors_total`,
    help: 'Failures of a source that retrying will not fix by itself (permission denied, unknown log group or workspace, bad credentials, an invalid filter), by reason.',
    labelNames: ['source', 'reason'],
    registers: [this.registry],
  });
  readonly sourceFailing = new Gauge({
    name: `${PREFIX}source_failing`,
    help: '1 while the last attempt of a source to read failed with a lasting error, by reason.',
    labelNames: ['source', 'reason'],
    registers: [this.registry],
  });
  readonly apiThrottles = new Counter({
    name: `${PREFIX}api_throttles_total`,
    help: 'Requests a provider API refused for quota or rate.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly lateEvents = new Counter({
    name: `${PREFIX}late_events_total`,
    help: 'Events first found by an overlap re-read: they arrived after the window that covers their time had been read.',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly ingestionLag = new Histogram({
    name: `${PREFIX}ingestion_lag_seconds`,
    help: 'Provider ingestion time minus event time, to size settleLag and overlap.',
    labelNames: ['source'],
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly webhookRequests = new Counter({
    name: `${PREFIX}webhook_source_requests_total`,
    help: 'Requests to the inbound audit webhook, by source and response code.',
    labelNames: ['source', 'code'],
    registers: [this.registry],
  });

  // --- outbound HTTP (src/sinks/http: the webhook sink, alert outputs) and the webhook sink ---
  readonly httpClientRequests = new Counter({
    name: `${PREFIX}http_client_requests_total`,
    help: 'Outbound HTTP requests by target (sink or alert output) and status code; "network", "timeout" or "credentials" when there was no response.',
    labelNames: ['target', 'code'],
    registers: [this.registry],
  });
  readonly httpClientDuration = new Histogram({
    name: `${PREFIX}http_client_request_duration_seconds`,
    help: 'Time of one outbound HTTP request, from sending to the end of the response.',
    labelNames: ['target'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly webhookBatchEvents = new Histogram({
    name: `${PREFIX}webhook_sink_batch_events`,
    help: 'Events per request body of a webhook sink.',
    labelNames: ['sink'],
    buckets: [1, 5, 10, 25, 50, 100, 200, 400, 1000, 5000],
    registers: [this.registry],
  });
  readonly webhookBatchBytes = new Histogram({
    name: `${PREFIX}webhook_sink_batch_bytes`,
    help: 'Size of a webhook sink request body before compression.',
    labelNames: ['sink'],
    buckets: [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 ** 2, 4 * 1024 ** 2, 10 * 1024 ** 2, 16 * 1024 ** 2],
    registers: [this.registry],
  });
  readonly webhookTruncated = new Counter({
    name: `${PREFIX}webhook_sink_truncated_events_total`,
    help: 'Events above maxEventBytes sent without requestObject and responseObject (annotation audit.k8s.io/truncated).',
    labelNames: ['sink'],
    registers: [this.registry],
  });

  // Rules sink (src/sinks/rules): alerts raised, delivered, retried and refused.
  readonly alertsRaised = new Counter({
    name: `${PREFIX}alerts_total`,
    help: 'Alerts raised by a rules sink, by rule and priority.',
    labelNames: ['sink', 'rule', 'priority'],
    registers: [this.registry],
  });
  readonly alertsDelivered = new Counter({
    name: `${PREFIX}alerts_delivered_total`,
    help: 'Alerts an alert output has delivered.',
    labelNames: ['sink', 'output'],
    registers: [this.registry],
  });
  readonly alertRetries = new Counter({
    name: `${PREFIX}alert_retries_total`,
    help: 'Alert deliveries retried after a transient failure.',
    labelNames: ['sink', 'output'],
    registers: [this.registry],
  });
  readonly alertsRefused = new Counter({
    name: `${PREFIX}alert_refusals_total`,
    help: 'Times an alert output refused alerts permanently; the batch went to the dead-letter file.',
    labelNames: ['sink', 'output'],
    registers: [this.registry],
  });

  // AKS source: windows split because a result hit a service limit (rows, size, time, partial).
  readonly querySplits = new Counter({
    name: `${PREFIX}query_splits_total`,
    help: 'Query windows split in two and queried again because the result hit a service limit or came back partial, by reason.',
    labelNames: ['source', 'reason'],
    registers: [this.registry],
  });

  /** Registers a function run before each scrape (to set gauges computed from the clock). */
  addCollector(collect: () => void): void {
    this.collectors.push(collect);
  }

  // Ages are computed at scrape time by the hooks; each age gauge runs them so it is fresh
  // whichever is serialized first.
  private runCollectors(): void {
    for (const collect of this.collectors) collect();
  }

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }
}
