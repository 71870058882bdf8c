import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isNth, parseFaults, type EksFaults } from './faults.js';
import { answerSts, type StsCall } from './sts.js';

/** A record as FilterLogEvents returns it, optionally naming the log group it belongs to. */
export interface EmulatorRecord {
  logGroupName?: string;
  logStreamName?: string;
  timestamp: number;
  message: string;
  /** When CloudWatch took it in; the record is invisible before. Default: the timestamp. */
  ingestionTime?: number;
  eventId?: string;
}

interface Stored {
  logGroupName: string;
  logStreamName: string;
  timestamp: number;
  ingestionTime: number;
  eventId: string;
  /** Order of arrival: CloudWatch's last sort key (the PutLogEvents request). */
  seq: number;
  /**
   * The record as a page's JSON holds it (message included), and its message's UTF-8 size: made
   * when it is added, as CloudWatch stores what it later serves. The benchmarks drain backlogs of
   * 100,000 records through this emulator on the cores the bridge uses, and encoding every page
   * anew (each message escaped again) was about half of its CPU there.
   */
  json: Buffer;
  messageBytes: number;
}

export interface FilterRequestLog {
  /** Epoch ms at which the request arrived. */
  at: number;
  target: string;
  body: Record<string, unknown>;
  status: number;
  errorType?: string;
  /** From the SigV4 Authorization header: which credentials the client used. */
  accessKeyId?: string;
  events: number;
  nextToken: boolean;
}

export interface EksEmulatorOptions {
  /** Default 0 (any free port); always 127.0.0.1. */
  port?: number;
  /** Log group of records that name none: /aws/eks/<cluster>/cluster. */
  logGroup: string;
  records?: readonly EmulatorRecord[];
  faults?: EksFaults | string;
  /** Time for visibility (ingestionTime); default Date.now. */
  now?: () => number;
}

const JSON_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'Logs_20140328.';
const MAX_LIMIT = 10_000;
/** A page holds at most 1 MB of events, whatever the limit (AWS counts each message plus 26 bytes). */
const MAX_PAGE_BYTES = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;

/**
 * CloudWatch Logs' FilterLogEvents over the JSON protocol (src/sources/eks/emulator/README.md), from records
 * held in memory: POST / with X-Amz-Target Logs_20140328.FilterLogEvents, inclusive start and end
 * on the event timestamp, stream prefix or names, pages ordered by (timestamp, ingestionTime,
 * arrival), at most 10,000 events or 1 MB each, with a nextToken until the last page. A record is visible once its ingestionTime has
 * passed, so late ingestion lands behind a reader's time cursor as it does on AWS. Faults
 * (faults.ts) add throttling, 5xx, empty pages with a nextToken, small pages, latency, and cut or
 * malformed messages. It also answers STS AssumeRole / AssumeRoleWithWebIdentity so the SDK's
 * credential chain can be exercised without leaving loopback. Signatures are not verified.
 */
export class EksEmulator {
  readonly requests: FilterRequestLog[] = [];
  readonly stsCalls: StsCall[] = [];
  private readonly records: Stored[] = [];
  private readonly faults: EksFaults;
  private readonly now: () => number;
  private filterCount = 0;
  private recordCount = 0;
  private stsCount = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: EksEmulatorOptions,
  ) {
    this.faults = typeof options.faults === 'string' || options.faults === undefined ? parseFaults(options.faults) : options.faults;
    this.now = options.now ?? Date.now;
    if (options.records) this.add(options.records);
  }

  static async start(options: EksEmulatorOptions): Promise<EksEmulator> {
    const server = createServer();
    const emulator = new EksEmulator(server, options);
    server.on('request', (req, res) => void emulator.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return emulator;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get logGroup(): string {
    return this.options.logGroup;
  }

  /** Records ingested so far (faults applied), in FilterLogEvents order. */
  get stored(): readonly Readonly<Stored>[] {
    return this.records;
  }

  /** Ingests records (as PutLogEvents would); record-level faults apply by arrival count. */
  add(records: readonly EmulatorRecord[]): void {
    for (const r of records) {
      const n = ++this.recordCount;
      let message = r.message;
      if (isNth(n, this.faults.truncateEvery)) message = `${message.slice(0, Math.max(1, Math.floor(message.length / 2)))}[Truncated...]`;
      if (isNth(n, this.faults.malformedEvery)) message = `E1204 not an audit event: ${message.slice(0, 40)}`;
      const ingestionTime = isNth(n, this.faults.lateEvery) ? r.timestamp + this.faults.lateMs : (r.ingestionTime ?? r.timestamp);
      const logStreamName = r.logStreamName ?? 'kube-apiserver-audit-00000000000000000000000000000000';
      const eventId = r.eventId ?? syntheticEventId(r.timestamp, n);
      this.records.push({
        logGroupName: r.logGroupName ?? this.options.logGroup,
        logStreamName,
        timestamp: r.timestamp,
        ingestionTime,
        eventId,
        seq: n,
        json: Buffer.from(JSON.stringify({ logStreamName, timestamp: r.timestamp, message, ingestionTime, eventId })),
        messageBytes: Buffer.byteLength(message),
      });
    }
    this.records.sort(compareStored);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    // A closed emulator serves nothing: its records go now (why: the gke emulator's stop).
    this.records.length = 0;
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));

    const contentType = String(req.headers['content-type'] ?? '');
    if (req.method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
      const answer = answerSts(new URLSearchParams(text), ++this.stsCount, this.now(), requestId);
      this.stsCalls.push(answer.call);
      res.writeHead(answer.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(answer.body);
      return;
    }

    const target = String(req.headers['x-amz-target'] ?? '');
    const send = (status: number, body: unknown, log?: Partial<FilterRequestLog>): void => {
      res.writeHead(status, { 'content-type': JSON_TYPE, 'x-amzn-requestid': requestId });
      res.end(JSON.stringify(body));
      if (log) this.requests.push({ at: this.now(), target, body: {}, status, events: 0, nextToken: false, accessKeyId: accessKeyOf(req), ...log });
    };
    const error = (status: number, type: string, message: string, body: Record<string, unknown> = {}): void =>
      send(status, { __type: type, message }, { body, errorType: type });

    if (req.method !== 'POST' || req.url !== '/') return error(404, 'UnknownOperationException', 'POST / only');
    if (target !== `${TARGET_PREFIX}FilterLogEvents`) {
      return error(400, 'UnknownOperationException', `the emulator implements FilterLogEvents only, not ${target || 'an empty X-Amz-Target'}`);
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text || '{}');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return error(400, 'SerializationException', 'the request body is not a JSON object');
    }

    const count = ++this.filterCount;
    if (isNth(count, this.faults.throttleEvery)) return error(400, 'ThrottlingException', 'Rate exceeded', body);
    if (isNth(count, this.faults.errorEvery)) {
      const status = this.faults.errorStatus;
      const type = status >= 500 ? 'ServiceUnavailableException' : status === 403 ? 'AccessDeniedException' : 'InvalidParameterException';
      return error(status, type, 'injected failure', body);
    }
    if (isNth(count, this.faults.deniedEvery)) {
      const group = typeof body.logGroupName === 'string' ? body.logGroupName : this.options.logGroup;
      const message = `User: arn:aws:sts::123456789012:assumed-role/audit-reader/kube-audit-bridge is not authorized to perform: logs:FilterLogEvents on resource: arn:aws:logs:us-east-1:123456789012:log-group:${group}:* because no identity-based policy allows the logs:FilterLogEvents action`;
      return error(400, 'AccessDeniedException', message, body);
    }
    const problem = validate(body);
    if (problem) return error(400, 'InvalidParameterException', problem, body);
    if (!this.records.some((r) => r.logGroupName === body.logGroupName) && body.logGroupName !== this.options.logGroup) {
      return error(400, 'ResourceNotFoundException', 'The specified log group does not exist.', body);
    }

    const after = typeof body.nextToken === 'string' ? decodeToken(body.nextToken) : undefined;
    if (typeof body.nextToken === 'string' && after === undefined) return error(400, 'InvalidParameterException', 'The specified nextToken is invalid.', body);
    const position = after ?? { timestamp: -Infinity, ingestionTime: -Infinity, seq: -Infinity };

    if (isNth(count, this.faults.emptyEvery)) {
      return send(200, { events: [], searchedLogStreams: [], nextToken: encodeToken(position) }, { body, nextToken: true });
    }

    const limit = Math.min(typeof body.limit === 'number' ? body.limit : MAX_LIMIT, this.faults.pageSize ?? MAX_LIMIT);
    const { page, more } = this.matching(body, position, limit);
    // {"events":[...],"searchedLogStreams":[],"nextToken":...}, each event's JSON as made once.
    const next = more ? `,"nextToken":${JSON.stringify(encodeToken(page[page.length - 1]!))}` : '';
    const parts: Buffer[] = [Buffer.from('{"events":[')];
    page.forEach((r, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(r.json);
    });
    parts.push(Buffer.from(`],"searchedLogStreams":[]${next}}`));
    res.writeHead(200, { 'content-type': JSON_TYPE, 'x-amzn-requestid': requestId });
    res.end(Buffer.concat(parts));
    this.requests.push({ at: this.now(), target, body, status: 200, events: page.length, nextToken: more, accessKeyId: accessKeyOf(req) });
  }

  /** Matching records after `after`, in order: one page of them, and whether more follow. */
  private matching(body: Record<string, unknown>, after: { timestamp: number; ingestionTime: number; seq: number }, limit: number): { page: Stored[]; more: boolean } {
    const now = this.now();
    const start = typeof body.startTime === 'number' ? body.startTime : -Infinity;
    const end = typeof body.endTime === 'number' ? body.endTime : Infinity;
    const prefix = typeof body.logStreamNamePrefix === 'string' ? body.logStreamNamePrefix : undefined;
    const names = Array.isArray(body.logStreamNames) ? new Set(body.logStreamNames as string[]) : undefined;
    const page: Stored[] = [];
    let bytes = 0;
    // Records are sorted: skip to the first one past the token and past startTime, stop past endTime.
    for (let i = this.firstAfter(after, start); i < this.records.length; i++) {
      const r = this.records[i]!;
      if (r.timestamp > end) break; // both bounds inclusive, as on AWS
      if (
        r.logGroupName !== body.logGroupName ||
        r.ingestionTime > now ||
        (prefix !== undefined && !r.logStreamName.startsWith(prefix)) ||
        (names !== undefined && !names.has(r.logStreamName))
      ) {
        continue;
      }
      bytes += r.messageBytes + EVENT_OVERHEAD_BYTES;
      if (page.length >= limit || (bytes > MAX_PAGE_BYTES && page.length > 0)) return { page, more: true };
      page.push(r);
    }
    return { page, more: false };
  }

  private firstAfter(after: { timestamp: number; ingestionTime: number; seq: number }, startTime: number): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.records[mid]!;
      if (compareStored(r, after) <= 0 || r.timestamp < startTime) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

}

const COMMA = Buffer.from(',');

function validate(body: Record<string, unknown>): string | undefined {
  if (typeof body.logGroupName !== 'string' || body.logGroupName === '') return '1 validation error detected: logGroupName must not be null';
  if (body.logStreamNamePrefix !== undefined && body.logStreamNames !== undefined) {
    return 'logStreamNames and logStreamNamePrefix are mutually exclusive';
  }
  if (body.limit !== undefined && (!Number.isInteger(body.limit) || (body.limit as number) < 1 || (body.limit as number) > MAX_LIMIT)) {
    return `1 validation error detected: limit must be between 1 and ${MAX_LIMIT}`;
  }
  for (const key of ['startTime', 'endTime'] as const) {
    if (body[key] !== undefined && (!Number.isInteger(body[key]) || (body[key] as number) < 0)) return `${key} must be a non-negative integer`;
  }
  return undefined;
}

function compareStored(a: { timestamp: number; ingestionTime: number; seq: number }, b: { timestamp: number; ingestionTime: number; seq: number }): number {
  return a.timestamp - b.timestamp || a.ingestionTime - b.ingestionTime || a.seq - b.seq;
}

// Keyset pagination: the token is the sort key of the last event returned, so a record ingested
// later with an earlier key is not on the following pages (it is behind the reader), as on AWS.
function encodeToken(p: { timestamp: number; ingestionTime: number; seq: number }): string {
  return Buffer.from(JSON.stringify([p.timestamp, p.ingestionTime, p.seq])).toString('base64url');
}

function decodeToken(token: string): { timestamp: number; ingestionTime: number; seq: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(v) || v.length !== 3) return undefined;
    const [timestamp, ingestionTime, seq] = (v as unknown[]).map((x) => (x === null ? -Infinity : x)) as number[];
    if (![timestamp, ingestionTime, seq].every((x) => typeof x === 'number')) return undefined;
    return { timestamp: timestamp!, ingestionTime: ingestionTime!, seq: seq! };
  } catch {
    return undefined;
  }
}

/** 56 decimal digits, like AWS's: the timestamp then the arrival number, so ids are unique. */
function syntheticEventId(timestamp: number, seq: number): string {
  return `${String(Math.max(0, timestamp)).padStart(16, '0')}${String(seq).padStart(40, '0')}`;
}

function accessKeyOf(req: IncomingMessage): string | undefined {
  const auth = String(req.headers.authorization ?? '');
  return /Credential=([^/,\s]+)\//.exec(auth)?.[1];
}
