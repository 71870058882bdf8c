// Requests a hostile or broken client sends to the audit webhook, for the hostile-input test
// (test/hostile.test.ts) and benchmark (bench/suites/hostile.ts). Each attack resolves
// with what the server answered; none of them may crash the bridge or stall its well-formed traffic.
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import type { AuditEvent } from '../../src/event/event.js';

export interface Target {
  host: string;
  port: number;
  /** The audit path of the webhook source, /audit/<name>. */
  path: string;
  token: string;
}

export interface AttackOutcome {
  attack: string;
  /** The HTTP status, or what happened to the connection. */
  result: number | 'closed' | 'error';
}

type Attack = (target: Target) => Promise<AttackOutcome>;

const json = { 'content-type': 'application/json' };

async function send(target: Target, attack: string, body: string | Buffer, headers: Record<string, string> = {}, path = target.path, method: 'POST' | 'GET' | 'PUT' | 'DELETE' = 'POST'): Promise<AttackOutcome> {
  try {
    const res = await request(`http://${target.host}:${target.port}${path}`, { method, body: method === 'GET' ? null : body, headers, headersTimeout: 60_000, bodyTimeout: 60_000 });
    await res.body.dump();
    return { attack, result: res.statusCode };
  } catch {
    return { attack, result: 'error' };
  }
}

const bearer = (t: Target): Record<string, string> => ({ ...json, authorization: `Bearer ${t.token}` });

/** Text of an object nested `depth` levels deep, built as text (a value that deep cannot be stringified). */
export function nestedText(depth: number, open = '{"d":', close = '}', leaf = '1'): string {
  return `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
}

/** An event JSON text with `field` replaced by a value nested `depth` levels deep. */
function deepEvent(base: AuditEvent, field: string, depth: number): string {
  const placeholder = '"__DEEP__"';
  const withPlaceholder = JSON.stringify(setPath({ ...base }, field.split('.'), '__DEEP__'));
  return withPlaceholder.replace(placeholder, nestedText(depth));
}

function setPath(object: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (rest.length === 0) object[head!] = value;
  else object[head!] = setPath({ ...((object[head!] as Record<string, unknown> | undefined) ?? {}) }, rest, value);
  return object;
}

/** Fields a depth bomb is placed in: every part of an Event a sender controls. */
export const DEPTH_BOMB_FIELDS = [
  'requestObject',
  'responseObject',
  'responseStatus.details',
  'user.extra',
  'impersonatedUser',
  'annotations',
  'objectRef',
  'authenticationMetadata',
  'somethingNew',
];

/** Every attack, by name. `sample` is a valid event to build on (a depth bomb keeps its neighbours valid). */
export function attacks(sample: AuditEvent): Record<string, Attack> {
  const list = (items: string[]): string => `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${items.join(',')}]}`;
  // Big bodies are built once: an attacker sends the same bytes again for free.
  const once = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };
  const bomb8 = once(() => `[${Array(2_796_000).fill('{}').join(',')}]`);
  const bomb1 = once(() => `[${Array(350_000).fill('{}').join(',')}]`);
  const problems = once(() => `[${Array(1_000_000).fill('0').join(',')}]`);
  const arrays = once(() => nestedText(1_000_000, '[', ']', ''));
  const gzipped = once(() => gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)));
  return {
    anonymous: (t) => send(t, 'anonymous', list([JSON.stringify(sample)]), json),
    'wrong token': (t) => send(t, 'wrong token', list([JSON.stringify(sample)]), { ...json, authorization: 'Bearer not-the-token' }),
    'memory bomb: 8 MiB of empty objects': (t) => send(t, 'memory bomb: 8 MiB of empty objects', bomb8(), bearer(t)),
    'memory bomb: 1 MiB of empty objects': (t) => send(t, 'memory bomb: 1 MiB of empty objects', bomb1(), bearer(t)),
    'problem bomb: a million bad items': (t) => send(t, 'problem bomb: a million bad items', problems(), bearer(t)),
    'depth bomb: nested arrays': (t) => send(t, 'depth bomb: nested arrays', arrays(), bearer(t)),
    'depth bomb: every field': (t) =>
      send(
        t,
        'depth bomb: every field',
        list(DEPTH_BOMB_FIELDS.map((field, i) => deepEvent({ ...sample, auditID: `deep-${i}-${Date.now()}-${Math.random()}` }, field, 20_000))),
        bearer(t),
      ),
    'gzip bomb': (t) => send(t, 'gzip bomb', gzipped(), { ...bearer(t), 'content-encoding': 'gzip' }),
    'not JSON': (t) => send(t, 'not JSON', '{"kind":"EventList","items":[', bearer(t)),
    'invalid UTF-8': (t) => send(t, 'invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), bearer(t)),
    'wrong content type': (t) => send(t, 'wrong content type', list([JSON.stringify(sample)]), { authorization: `Bearer ${t.token}`, 'content-type': 'text/plain' }),
    'no content type': (t) => send(t, 'no content type', list([JSON.stringify(sample)]), { authorization: `Bearer ${t.token}` }),
    'malformed path': (t) => send(t, 'malformed path', '[]', bearer(t), '/audit/%E0%A4%A'),
    'path traversal': (t) => send(t, 'path traversal', '[]', bearer(t), '/audit/../../etc/passwd'),
    'long path': (t) => send(t, 'long path', '[]', bearer(t), `/audit/${'a'.repeat(20_000)}`),
    'huge header': (t) => send(t, 'huge header', '[]', { ...bearer(t), 'x-padding': 'p'.repeat(100_000) }),
    'wrong method': (t) => send(t, 'wrong method', '', bearer(t), t.path, 'GET'),
    'slow headers': (t) => slowly(t, 'slow headers', `POST ${t.path} HTTP/1.1\r\nHost: x\r\n`.split('').concat(['X-a: b\r\n']), 100, 40),
    'slow body': (t) => {
      const head = `POST ${t.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
      return slowly(t, 'slow body', [head, ...Array<string>(40).fill('[')], 100, 40);
    },
    'many idle connections': (t) => idleConnections(t, 'many idle connections', 200, 3000),
  };
}

/** Writes `pieces` one by one with a pause between, and reports how the connection ended. */
function slowly(target: Target, attack: string, pieces: string[], gapMs: number, max: number): Promise<AttackOutcome> {
  return new Promise((resolve) => {
    const socket: Socket = connect(target.port, target.host);
    let answered = '';
    socket.on('data', (d: Buffer) => (answered += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answered)?.[1];
      resolve({ attack, result: status ? Number(status) : 'closed' });
    });
    void (async () => {
      for (const piece of pieces.slice(0, max)) {
        if (socket.destroyed) return;
        socket.write(piece);
        await new Promise((r) => setTimeout(r, gapMs));
      }
      socket.destroy();
    })();
  });
}

/** Opens `count` connections that send nothing, holds them, then closes what the server has not. */
function idleConnections(target: Target, attack: string, count: number, holdMs: number): Promise<AttackOutcome> {
  return new Promise((resolve) => {
    const sockets = Array.from({ length: count }, () => {
      const s = connect(target.port, target.host);
      s.on('error', () => undefined);
      return s;
    });
    setTimeout(() => {
      for (const s of sockets) s.destroy();
      resolve({ attack, result: 'closed' });
    }, holdMs);
  });
}
