import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseTicks, ticksFromMs } from '../kusto-time.js';
import { LOG_S_LIMIT_BYTES } from '../normalize.js';
import { readBody, BodyError } from '../../../server/body.js';
import { createLocalPki, type LocalPki } from '../../../util/certs.js';
import { DEFAULT_FAULTS, every, type AksFaults } from './faults.js';
import { KqlError, KTime, parseQuery, runQuery, type EvalRow, type TableSchema } from './kql.js';
import { schemaOf, TABLE_NAMES, type EmulatedTable } from './tables.js';


export interface AksEmulatorOptions {
  /** Default 0 (any free port); always 127.0.0.1. */
  port?: number;
  faults?: Partial<AksFaults>;
  /** The table of rows that carry no Type column. */
  table?: EmulatedTable;
  /** When set, only this workspace id answers (others: 404). */
  workspaceId?: string;
  /** When set, the token endpoint refuses other client secrets. */
  clientSecret?: string;
  /** Time for visibility (a row shows once its ingestion time has passed); default Date.now. */
  now?: () => number;
  /** Reuse a CA (tests that start several emulators); default a fresh one. */
  pki?: LocalPki;
}

export interface QueryCall {
  workspaceId: string;
  query: string;
  timespan?: string;
  prefer?: string;
  /** The bearer token presented (tests check the credential path); never printed. */
  token?: string;
  status: number;
  rows: number;
}

export interface TokenCall {
  path: string;
  grantType?: string;
  clientId?: string;
  clientSecret?: string;
  clientAssertion?: string;
  scope?: string;
  /** The access token handed out. */
  accessToken: string;
}

interface StoredRow {
  table: EmulatedTable;
  cells: Record<string, unknown>;
  ingestion: KTime;
  /** When the row becomes visible to queries (ms); later than ingestion for late arrivals. */
  visibleAtMs: number;
}

/**
 * The Log Analytics query API on 127.0.0.1 over HTTPS (the SDK's bearer policy refuses plain
 * http), with a fake Microsoft Entra token service on the same port so the credential path runs
 * for real: POST /v1/workspaces/{id}/query, GET /{tenant}/v2.0/.well-known/openid-configuration,
 * POST /{tenant}/oauth2/v2.0/token, and GET /msi/token (App Service managed identity).
 */
export class AksEmulator {
  readonly queries: QueryCall[] = [];
  readonly tokenCalls: TokenCall[] = [];
  private readonly rows: StoredRow[] = [];
  private readonly issued = new Set<string>();
  private readonly faults: AksFaults;
  private readonly schemas: Map<string, TableSchema>;
  private queryCalls = 0;
  private appended = 0;

  private constructor(
    private readonly server: Server,
    readonly pki: LocalPki,
    private readonly options: AksEmulatorOptions,
  ) {
    this.faults = { ...DEFAULT_FAULTS, ...options.faults };
    this.schemas = new Map(TABLE_NAMES.map((t) => [t, schemaOf(t)]));
  }

  static async start(rows: readonly Record<string, unknown>[], options: AksEmulatorOptions = {}): Promise<AksEmulator> {
    const pki = options.pki ?? (await createLocalPki('kube-audit-bridge aks emulator'));
    const server = createServer({ cert: pki.server.cert, key: pki.server.key });
    const emulator = new AksEmulator(server, pki, options);
    emulator.append(rows);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      emulator.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'InternalServerError', message: String(err) } });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    return emulator;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  /** The LogsQueryClient endpoint: it must end with /v1. */
  get endpoint(): string {
    return `https://127.0.0.1:${this.port}/v1`;
  }
  /** An authorityHost for @azure/identity credentials. */
  get authorityHost(): string {
    return `https://127.0.0.1:${this.port}`;
  }
  /** IDENTITY_ENDPOINT for a managed identity (App Service source). */
  get msiEndpoint(): string {
    return `https://127.0.0.1:${this.port}/msi/token`;
  }
  get caPem(): string {
    return this.pki.ca.cert;
  }
  /** Rows stored so far (all tables). */
  get size(): number {
    return this.rows.length;
  }

  /**
   * Adds rows. A row's table is its Type column (or the default table); its ingestion time is
   * _TimeReceived, or now when it has none. Faults that damage rows apply here, by row number.
   */
  append(rows: readonly Record<string, unknown>[]): void {
    const now = this.now();
    for (const original of rows) {
      const n = ++this.appended;
      const table = tableOf(original, this.options.table);
      const cells = damage({ ...original }, table, n, this.faults);
      const received = typeof cells._TimeReceived === 'string' ? parseTicks(cells._TimeReceived) : undefined;
      const ingestion = new KTime(received ?? ticksFromMs(now));
      const ingestedMs = Number(ingestion.ticks / 10_000n);
      const late = every(this.faults.lateEvery, n) ? this.faults.lateMs : 0;
      this.rows.push({ table, cells, ingestion, visibleAtMs: ingestedMs + late });
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    // A closed emulator serves nothing: its rows go now (why: the gke emulator's stop).
    this.rows.length = 0;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const query = /^\/v1\/workspaces\/([^/]+)\/query$/.exec(url.pathname);
    if (query && req.method === 'POST') return this.answerQuery(decodeURIComponent(query[1]!), req, res);
    const wellKnown = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    if (wellKnown && req.method === 'GET') return this.answerOpenIdConfig(wellKnown[1]!, res);
    if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(url.pathname) && req.method === 'POST') return this.answerToken(url.pathname, req, res);
    if (url.pathname === '/msi/token' && req.method === 'GET') return this.answerMsi(url, req, res);
    if (/^\/[^/]+\/discovery\/v2\.0\/keys$/.test(url.pathname)) return sendJson(res, 200, { keys: [] });
    sendJson(res, 404, { error: { code: 'PathNotFoundError', message: `The requested path does not exist: ${req.method} ${url.pathname}` } });
  }

  // --- the query API ----------------------------------------------------------------------

  private async answerQuery(workspaceId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call: QueryCall = { workspaceId, query: '', status: 0, rows: 0 };
    const prefer = header(req, 'prefer');
    if (prefer) call.prefer = prefer;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      call.status = status;
      this.queries.push(call);
      sendJson(res, status, body, headers);
    };

    const auth = header(req, 'authorization') ?? '';
    const token = /^Bearer (.+)$/i.exec(auth)?.[1];
    if (token) call.token = token;
    let text: string;
    try {
      text = await readBody(req, 1024 * 1024);
    } catch (err) {
      return send(err instanceof BodyError ? err.status : 400, { error: { code: 'BadArgumentError', message: (err as Error).message } });
    }
    try {
      const body = JSON.parse(text) as { query?: unknown; timespan?: unknown };
      call.query = typeof body.query === 'string' ? body.query : '';
      if (typeof body.timespan === 'string') call.timespan = body.timespan;
    } catch {
      return send(400, { error: { code: 'BadArgumentError', message: 'The request body is not JSON' } });
    }
    if (!token || !this.issued.has(token)) {
      return send(401, { error: { code: 'AuthorizationRequiredError', message: 'Valid authentication was not provided' } });
    }
    if (this.options.workspaceId && workspaceId.toLowerCase() !== this.options.workspaceId.toLowerCase()) {
      return send(404, { error: { code: 'WorkspaceNotFoundError', message: `Workspace ${workspaceId} was not found` } });
    }

    const n = ++this.queryCalls;
    if (this.faults.slowMs > 0) await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (every(this.faults.throttleEvery, n)) {
      return send(
        429,
        { error: { code: 'ThrottledError', message: 'Your request was throttled: too many requests (emulated)' } },
        { 'retry-after': String(this.faults.retryAfter) },
      );
    }
    if (every(this.faults.errorEvery, n)) return send(500, { error: { code: 'InternalServerError', message: 'emulated server error' } });
    if (every(this.faults.deniedEvery, n)) {
      return send(403, { error: { code: 'InsufficientAccessError', message: 'The provided credentials have insufficient access to perform the requested operation' } });
    }
    if (every(this.faults.timeoutEvery, n)) {
      return send(504, { error: { code: 'GatewayTimeout', message: 'The query ran longer than its allowed time (emulated)' } });
    }
    if (typeof call.query !== 'string' || call.query.trim() === '') {
      return send(400, { error: { code: 'BadArgumentError', message: 'The request had some invalid properties', innererror: { code: 'SyntaxError', message: 'query is empty' } } });
    }

    let result;
    try {
      const parsed = parseQuery(call.query, this.schemas);
      const span = parseTimespan(call.timespan, this.now());
      const nowMs = this.now();
      const rows: EvalRow[] = [];
      for (const r of this.rows) {
        if (r.table !== parsed.table || r.visibleAtMs > nowMs) continue;
        const generated = typeof r.cells.TimeGenerated === 'string' ? parseTicks(r.cells.TimeGenerated) : undefined;
        if (span && generated !== undefined && (generated < span.start || generated >= span.end)) continue;
        rows.push({ cells: r.cells, ingestion: r.ingestion });
      }
      result = runQuery(parsed, rows, this.schemas.get(parsed.table)!);
    } catch (err) {
      if (err instanceof KqlError || err instanceof TimespanError) {
        const inner = err instanceof KqlError ? err.kind : 'BadArgumentError';
        return send(400, { error: { code: 'BadArgumentError', message: 'The request had some invalid properties', innererror: { code: inner, message: err.message } } });
      }
      throw err;
    }

    const table = { name: 'PrimaryResult', columns: result.columns, rows: result.rows };
    const tooMany = result.rows.length > this.faults.rowLimit;
    const size = tooMany ? 0 : Buffer.byteLength(JSON.stringify(result.rows));
    if (tooMany || size > this.faults.sizeLimit || every(this.faults.partialEvery, n)) {
      const message = tooMany
        ? `Query result set has exceeded the internal record count limit ${this.faults.rowLimit} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)`
        : size > this.faults.sizeLimit
          ? `Query result set has exceeded the internal data size limit ${this.faults.sizeLimit} (E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)`
          : 'Partial query failure: a shard did not answer in time (emulated)';
      const kept = tooMany ? this.faults.rowLimit : Math.floor(result.rows.length / 2);
      call.rows = kept;
      return send(200, {
        tables: [{ ...table, rows: result.rows.slice(0, kept) }],
        error: {
          code: 'PartialError',
          message: 'There were some errors when processing your query.',
          details: [{ code: 'EngineError', message: 'Something went wrong processing your query on the server.', innererror: { code: '-2133196797', message, severity: 2, severityName: 'Error' } }],
        },
      });
    }
    call.rows = result.rows.length;
    send(200, { tables: [table] });
  }

  // --- the fake Entra ID --------------------------------------------------------------------

  private answerOpenIdConfig(tenant: string, res: ServerResponse): void {
    const base = `${this.authorityHost}/${tenant}`;
    sendJson(res, 200, {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      issuer: `${base}/v2.0`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      tenant_region_scope: 'WW',
      cloud_instance_name: 'microsoftonline.com',
    });
  }

  private async answerToken(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req, 1024 * 1024));
    const call: TokenCall = { path, accessToken: '' };
    const set = (key: keyof TokenCall, name: string): void => {
      const v = form.get(name);
      if (v !== null) (call as unknown as Record<string, string>)[key] = v;
    };
    set('grantType', 'grant_type');
    set('clientId', 'client_id');
    set('clientSecret', 'client_secret');
    set('clientAssertion', 'client_assertion');
    set('scope', 'scope');
    if (!call.clientSecret && !call.clientAssertion) {
      this.tokenCalls.push(call);
      return sendJson(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000216: client_assertion or client_secret is required (emulated)' });
    }
    if (this.options.clientSecret !== undefined && call.clientSecret !== undefined && call.clientSecret !== this.options.clientSecret) {
      this.tokenCalls.push(call);
      return sendJson(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided (emulated)' });
    }
    call.accessToken = this.issue();
    this.tokenCalls.push(call);
    sendJson(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: call.accessToken });
  }

  private answerMsi(url: URL, req: IncomingMessage, res: ServerResponse): void {
    const resource = url.searchParams.get('resource') ?? '';
    const call: TokenCall = { path: url.pathname, accessToken: '', scope: resource };
    const clientId = url.searchParams.get('client_id');
    if (clientId) call.clientId = clientId;
    if (!header(req, 'x-identity-header')) {
      this.tokenCalls.push(call);
      return sendJson(res, 400, { statusCode: 400, message: 'missing x-identity-header (emulated)' });
    }
    call.accessToken = this.issue();
    this.tokenCalls.push(call);
    const expiresOn = Math.floor(this.now() / 1000) + 3600;
    sendJson(res, 200, { access_token: call.accessToken, expires_on: String(expiresOn), resource, token_type: 'Bearer', client_id: clientId ?? '' });
  }

  private issue(): string {
    const token = `emulated-${randomUUID()}`;
    this.issued.add(token);
    return token;
  }
}

function tableOf(row: Record<string, unknown>, fallback: EmulatedTable | undefined): EmulatedTable {
  const type = row.Type;
  if (type === 'AKSAudit' || type === 'AKSAuditAdmin' || type === 'AzureDiagnostics') return type;
  if ('log_s' in row) return 'AzureDiagnostics';
  return fallback ?? 'AKSAudit';
}

/** Row-level faults: a damaged cell (malformed-every) or a log_s cut as Azure Diagnostics cuts it. */
function damage(cells: Record<string, unknown>, table: EmulatedTable, n: number, faults: AksFaults): Record<string, unknown> {
  if (every(faults.malformedEvery, n)) {
    if (table === 'AzureDiagnostics') cells.log_s = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","note":"damaged row ${n}","auditID":`;
    else cells.User = '{"username": broken';
  }
  if (every(faults.truncateEvery, n)) {
    if (table === 'AzureDiagnostics' && typeof cells.log_s === 'string') cells.log_s = truncatedLog(cells.log_s);
    else if (table !== 'AzureDiagnostics') cells.ResponseObject = 'skipped-too-big-size-object';
  }
  return cells;
}

/** The event made larger than the limit (a big response body), then cut at 32,766 bytes. */
function truncatedLog(log: string): string {
  let text: string;
  try {
    const event = JSON.parse(log) as Record<string, unknown>;
    if (Buffer.byteLength(log) <= LOG_S_LIMIT_BYTES) event.responseObject = { kind: 'Status', padding: 'x'.repeat(LOG_S_LIMIT_BYTES) };
    text = JSON.stringify(event);
  } catch {
    text = log.padEnd(LOG_S_LIMIT_BYTES + 1, 'x');
  }
  return Buffer.from(text, 'utf8').subarray(0, LOG_S_LIMIT_BYTES).toString('utf8');
}

class TimespanError extends Error {}

/** "start/end", "start/duration" or "duration" (ISO 8601: P1D, PT1H, PT30M, PT10S). */
function parseTimespan(text: string | undefined, nowMs: number): { start: bigint; end: bigint } | undefined {
  if (text === undefined || text === '') return undefined;
  const parts = text.split('/');
  const time = (t: string): bigint => {
    const ms = Date.parse(t);
    if (Number.isNaN(ms) || !/^\d{4}-/.test(t)) throw new TimespanError(`bad timespan time ${JSON.stringify(t)}`);
    return parseTicks(new Date(ms).toISOString()) ?? ticksFromMs(ms);
  };
  const duration = (t: string): bigint => {
    const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(t);
    if (!m || t === 'P' || t === 'PT') throw new TimespanError(`bad timespan duration ${JSON.stringify(t)}`);
    const ms = (Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)) * 1000;
    return ticksFromMs(ms);
  };
  if (parts.length === 1) {
    const end = ticksFromMs(nowMs);
    return { start: end - duration(parts[0]!), end };
  }
  if (parts.length !== 2) throw new TimespanError(`bad timespan ${JSON.stringify(text)}`);
  const [a, b] = parts as [string, string];
  if (a.startsWith('P')) {
    const end = time(b);
    return { start: end - duration(a), end };
  }
  const start = time(a);
  return { start, end: b.startsWith('P') ? start + duration(b) : time(b) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
