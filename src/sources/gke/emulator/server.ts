// A local Cloud Logging: google.logging.v2.LoggingServiceV2/ListLogEntries over plaintext gRPC on
// 127.0.0.1, serving LogEntries whose protoPayload is the real AuditLog encoding (an Any), so the
// official SDK decodes them exactly as it decodes Google's answers.

import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { isPlainObject } from '../../../event/event.js';
import { AUDIT_LOG_TYPE } from '../normalize.js';
import { encodeAuditLog } from '../audit-log.js';
import { parseTimeNs } from '../time.js';
import { everyNth, type GkeFaults } from './faults.js';
import { compileFilter, FilterError, type FilterableEntry } from './filter.js';

export interface GkeEmulatorOptions {
  port?: number;
  faults?: GkeFaults;
  /** The emulator's idea of now (epoch ms), for ingestion-time visibility; default Date.now. */
  now?: () => number;
}

/** One ListLogEntries call as the emulator saw it, for tests and logs. */
export interface ListCall {
  resourceNames: string[];
  filter: string;
  orderBy: string;
  pageSize: number;
  pageToken: string;
  /** gRPC status name when the call failed, else OK. */
  outcome: string;
  returned: number;
}

interface Stored extends FilterableEntry {
  insertId: string;
  project: string | undefined;
  visibleAtMs: number;
  /**
   * The entry as a ListLogEntriesResponse of it alone, encoded when it is added. Serialized protobuf
   * messages concatenate into their merge, and a repeated field merges by appending, so a page is
   * its entries' encodings end to end: the benchmarks drain 100,000 entries through this emulator
   * on the cores the bridge uses, and encoding every page anew took about half a core there.
   */
  encoded: Buffer;
}

const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 50;

function protoDirs(): string[] {
  const require = createRequire(import.meta.url);
  const api = dirname(require.resolve('@google-cloud/logging-api/package.json'));
  // google-gax exports no package.json; its protos sit beside its build/src entry point.
  const gaxMain = require.resolve('google-gax');
  const gax = gaxMain.slice(0, gaxMain.lastIndexOf(`${sep}build${sep}`));
  return [join(api, 'build/protos'), join(gax, 'build/protos')];
}

let serviceDefinition: grpc.ServiceDefinition | undefined;
/** LoggingServiceV2, with ListLogEntries answered by bytes the emulator encoded (Stored.encoded). */
function loggingService(): grpc.ServiceDefinition {
  if (!serviceDefinition) {
    const definition = protoLoader.loadSync('google/logging/v2/logging.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: protoDirs(),
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      google: { logging: { v2: { LoggingServiceV2: { service: grpc.ServiceDefinition } } } };
    };
    const service = pkg.google.logging.v2.LoggingServiceV2.service;
    const list = service.ListLogEntries!;
    serviceDefinition = { ...service, ListLogEntries: { ...list, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : list.responseSerialize(value)) } };
  }
  return serviceDefinition;
}

/** A ListLogEntriesResponse encoded by the service's own serializer. */
function encodeResponse(response: Record<string, unknown>): Buffer {
  return loggingService().ListLogEntries!.responseSerialize(response);
}

function nsToTimestamp(ns: bigint): { seconds: string; nanos: number } {
  const seconds = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
  return { seconds: seconds.toString(), nanos: Number(ns - seconds * 1_000_000_000n) };
}

function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

export class GkeEmulator {
  private readonly server = new grpc.Server();
  private readonly entries: Stored[] = [];
  private readonly faults: GkeFaults;
  private readonly now: () => number;
  private added = 0;
  private callCount = 0;
  readonly calls: ListCall[] = [];
  private port = 0;

  private constructor(options: GkeEmulatorOptions) {
    this.faults = options.faults ?? {};
    this.now = options.now ?? Date.now;
  }

  /** Starts on 127.0.0.1 (port 0: any free port) serving `entries` (LogEntries as gcloud prints them). */
  static async start(entries: readonly unknown[], options: GkeEmulatorOptions = {}): Promise<GkeEmulator> {
    const emulator = new GkeEmulator(options);
    emulator.add(entries);
    emulator.server.addService(loggingService(), {
      ListLogEntries: (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        void emulator.list(call.request).then(
          (response) => callback(null, response),
          (err: grpc.ServiceError) => callback(err),
        );
      },
    });
    emulator.port = await new Promise<number>((resolve, reject) =>
      emulator.server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    return emulator;
  }

  /** host:port, as a gke source's `endpoint` takes it. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Adds LogEntries (JSON, as gcloud prints them). Each is visible once its receiveTimestamp has
   * passed (at once without one), later when the late fault picks it. Entries that cannot be
   * served at all (no timestamp) are skipped and counted in the result.
   */
  add(entries: readonly unknown[]): { added: number; skipped: number } {
    let skipped = 0;
    for (const json of entries) {
      const index = ++this.added;
      const stored = isPlainObject(json) ? this.store(json, index) : undefined;
      if (stored) this.entries.push(stored);
      else skipped++;
    }
    this.entries.sort((a, b) => (a.timestampNs < b.timestampNs ? -1 : a.timestampNs > b.timestampNs ? 1 : a.insertId < b.insertId ? -1 : a.insertId > b.insertId ? 1 : 0));
    return { added: entries.length - skipped, skipped };
  }

  get size(): number {
    return this.entries.length;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
    // A stopped emulator serves nothing: its entries (hundreds of MB in a benchmark) go now, not when
    // the emulator itself is collected. Left to then, the next drain in the same bench process ran a
    // third slower (the end-to-end suite drains each provider three times), though the previous
    // emulator had been collected before that drain began (the cause is not known).
    this.entries.length = 0;
  }

  private store(json: Record<string, unknown>, index: number): Stored | undefined {
    const timestampNs = typeof json.timestamp === 'string' ? parseTimeNs(json.timestamp) : undefined;
    if (timestampNs === undefined) return undefined;
    const receiveNs = typeof json.receiveTimestamp === 'string' ? parseTimeNs(json.receiveTimestamp) : undefined;
    const late = everyNth(this.faults.lateEvery, index) ? (this.faults.lateMs ?? 0) : 0;
    const visibleAtMs = (receiveNs === undefined ? this.now() : Number(receiveNs / 1_000_000n)) + late;
    const logName = typeof json.logName === 'string' ? json.logName : '';
    const project = /^projects\/([^/]+)\/logs\//.exec(logName)?.[1];
    const insertId = typeof json.insertId === 'string' ? json.insertId : '';
    const encoded = encodeResponse({ entries: [this.wireEntry(json, timestampNs, receiveNs, index)] });
    return { json, timestampNs, insertId, project, visibleAtMs, encoded };
  }

  /** The LogEntry message in proto-loader's shape (snake_case, Timestamps, Any). */
  private wireEntry(json: Record<string, unknown>, timestampNs: bigint, receiveNs: bigint | undefined, index: number): Record<string, unknown> {
    const wire: Record<string, unknown> = {
      log_name: json.logName,
      insert_id: json.insertId,
      timestamp: nsToTimestamp(timestampNs),
    };
    if (receiveNs !== undefined) wire.receive_timestamp = nsToTimestamp(receiveNs);
    if (isPlainObject(json.resource)) wire.resource = json.resource;
    if (isPlainObject(json.labels)) wire.labels = json.labels;
    if (isPlainObject(json.operation)) wire.operation = json.operation;
    if (typeof json.severity === 'string') wire.severity = json.severity;
    if (typeof json.textPayload === 'string') wire.text_payload = json.textPayload;
    const payload = json.protoPayload;
    if (everyNth(this.faults.malformedEvery, index)) {
      // Claims to be an AuditLog, but the bytes are a truncated varint: no decoder accepts them.
      wire.proto_payload = { type_url: AUDIT_LOG_TYPE, value: Buffer.from([0x3a, 0xff, 0xff, 0xff]) };
    } else if (isPlainObject(payload)) {
      const type = typeof payload['@type'] === 'string' ? payload['@type'] : AUDIT_LOG_TYPE;
      wire.proto_payload = {
        type_url: type,
        value: type === AUDIT_LOG_TYPE ? Buffer.from(encodeAuditLog(payload)) : Buffer.alloc(0),
      };
    }
    return wire;
  }

  private async list(request: Record<string, unknown>): Promise<unknown> {
    const call: ListCall = {
      resourceNames: Array.isArray(request.resource_names) ? (request.resource_names as string[]) : [],
      filter: typeof request.filter === 'string' ? request.filter : '',
      orderBy: typeof request.order_by === 'string' ? request.order_by : '',
      pageSize: typeof request.page_size === 'number' ? request.page_size : 0,
      pageToken: typeof request.page_token === 'string' ? request.page_token : '',
      outcome: 'OK',
      returned: 0,
    };
    this.calls.push(call);
    const n = ++this.callCount;
    const fail = (code: grpc.status, name: string, message: string): never => {
      call.outcome = name;
      throw grpcError(code, message);
    };
    if (this.faults.slowPageMs) await new Promise((r) => setTimeout(r, this.faults.slowPageMs));
    if (everyNth(this.faults.throttleEvery, n)) {
      fail(grpc.status.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'");
    }
    if (everyNth(this.faults.unavailableEvery, n)) fail(grpc.status.UNAVAILABLE, 'UNAVAILABLE', 'The service is currently unavailable.');
    if (everyNth(this.faults.deniedEvery, n)) fail(grpc.status.PERMISSION_DENIED, 'PERMISSION_DENIED', 'The caller does not have permission');

    const projects = new Set<string>();
    for (const name of call.resourceNames) {
      const m = /^projects\/([^/]+)$/.exec(name);
      if (!m) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', `unsupported resource name ${JSON.stringify(name)}: the emulator serves projects/P`);
      projects.add(m![1]!);
    }
    if (projects.size === 0) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', 'resource_names is required');
    const order = call.orderBy.trim().toLowerCase() || 'timestamp asc';
    if (order !== 'timestamp asc' && order !== 'timestamp desc') {
      fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', `orderBy ${JSON.stringify(call.orderBy)}: only "timestamp asc" and "timestamp desc"`);
    }
    let matcher;
    try {
      matcher = compileFilter(call.filter);
    } catch (err) {
      if (err instanceof FilterError) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', `invalid filter: ${err.message}`);
      throw err;
    }
    const after = call.pageToken ? decodeToken(call.pageToken) : undefined;
    if (call.pageToken && !after) fail(grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', 'invalid page token');
    const pageSize = Math.min(MAX_PAGE_SIZE, call.pageSize > 0 ? call.pageSize : DEFAULT_PAGE_SIZE);

    const now = this.now();
    const descending = order === 'timestamp desc';
    const ordered = descending ? [...this.entries].reverse() : this.entries;
    const page: Stored[] = [];
    let more = false;
    // Ascending, the entries after the token start where a binary search finds them.
    for (let i = after && !descending ? this.firstAfter(after) : 0; i < ordered.length; i++) {
      const e = ordered[i]!;
      if (after && !isAfter(e, after, descending)) continue;
      if (e.visibleAtMs > now || e.project === undefined || !projects.has(e.project) || !matcher(e)) continue;
      if (page.length === pageSize) {
        more = true;
        break;
      }
      page.push(e);
    }
    call.returned = page.length;
    const last = page[page.length - 1];
    const token = more && last ? encodeToken(last) : '';
    return Buffer.concat([...page.map((e) => e.encoded), encodeResponse({ next_page_token: token })]);
  }

  /** The index of the first entry after `p` in ascending order (entries are sorted by time, then insertId). */
  private firstAfter(p: Position): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(this.entries[mid]!, p, false)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

interface Position {
  ns: bigint;
  id: string;
}

function encodeToken(e: Stored): string {
  return Buffer.from(JSON.stringify({ t: e.timestampNs.toString(), i: e.insertId })).toString('base64url');
}

function decodeToken(token: string): Position | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { t?: unknown; i?: unknown };
    if (typeof parsed.t !== 'string' || typeof parsed.i !== 'string') return undefined;
    return { ns: BigInt(parsed.t), id: parsed.i };
  } catch {
    return undefined;
  }
}

/** Strictly after the last entry of the previous page, in the query's order. */
function isAfter(e: Stored, p: Position, descending: boolean): boolean {
  const order = e.timestampNs < p.ns ? -1 : e.timestampNs > p.ns ? 1 : e.insertId < p.id ? -1 : e.insertId > p.id ? 1 : 0;
  return descending ? order < 0 : order > 0;
}
