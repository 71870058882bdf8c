import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { isReject, MAX_EVENT_DEPTH } from '../../../src/event/event.js';
import { AuditLogTooDeepError, decodeAuditLog, decodeAuditLogWithProtobufjs, encodeAuditLog } from '../../../src/sources/gke/audit-log.js';
import { fromWireEntry } from '../../../src/sources/gke/entry.js';
import { AUDIT_LOG_TYPE, normalizeGkeEntry } from '../../../src/sources/gke/normalize.js';
import { testdata } from '../../helpers/events.js';

const SAMPLES = join(testdata('gke'), '../../../../samples/gke/');

/** Every LogEntry of a folder of samples: entries.json and the one-entry files under it. */
function entriesOf(dir: string): { name: string; entry: Record<string, unknown> }[] {
  const out = (JSON.parse(readFileSync(join(dir, 'entries.json'), 'utf8')) as Record<string, unknown>[]).map((entry, i) => ({ name: `entries.json[${i}]`, entry }));
  for (const folder of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const file of readdirSync(join(dir, folder.name)).filter((f) => f.endsWith('.json')).sort()) {
      out.push({ name: `${folder.name}/${file}`, entry: JSON.parse(readFileSync(join(dir, folder.name, file), 'utf8')) as Record<string, unknown> });
    }
  }
  return out;
}

/** The payload's bytes as the SDK hands them over (a Buffer view into a larger response) and as a plain Uint8Array. */
function asReceived(bytes: Uint8Array): Uint8Array[] {
  const frame = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([4])]);
  return [frame.subarray(3, 3 + bytes.length), new Uint8Array(bytes)];
}

describe('decodeAuditLog against the protobufjs decoder it replaces', () => {
  const samples = [...entriesOf(testdata('gke')).map((s) => ({ ...s, name: `testdata/${s.name}` })), ...entriesOf(SAMPLES).map((s) => ({ ...s, name: `samples/${s.name}` }))];

  it('has the samples of both folders', () => {
    expect(samples.length).toBeGreaterThanOrEqual(2 * 48);
  });

  for (const { name, entry } of samples) {
    it(`gives the same JSON, key order included, and the same Event: ${name}`, () => {
      const bytes = encodeAuditLog(entry.protoPayload as Record<string, unknown>);
      for (const received of asReceived(bytes)) {
        const reference = decodeAuditLogWithProtobufjs(received);
        const decoded = decodeAuditLog(received);
        expect(decoded).toEqual(reference);
        expect(JSON.stringify(decoded)).toBe(JSON.stringify(reference));
        const event = normalizeGkeEntry({ ...entry, protoPayload: decoded });
        expect(isReject(event)).toBe(false);
        expect(JSON.stringify(event)).toBe(JSON.stringify(normalizeGkeEntry({ ...entry, protoPayload: reference })));
      }
    });
  }
});

// JSON-able values as a Struct carries them. "__proto__" is left out: the protobufjs encoder loses
// it (its Struct map sets the prototype), so it gets a test of its own below.
const key = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__');
const text = fc.string({ unit: 'binary', maxLength: 40 });
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    text,
    fc.array(tie('json'), { maxLength: 5 }),
    fc.dictionary(key, tie('json'), { maxKeys: 6, noNullPrototype: true }),
  ),
}));
const object = fc.dictionary(key, json, { maxKeys: 8, noNullPrototype: true });
const payload = fc.record(
  {
    serviceName: text,
    methodName: text,
    resourceName: text,
    numResponseItems: fc.maxSafeInteger().filter((n) => n >= -(2 ** 53) + 1),
    status: fc.record({ code: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), message: text }, { requiredKeys: [] }),
    authenticationInfo: fc.record({ principalEmail: text, authoritySelector: text, serviceAccountKeyName: text, principalSubject: text }, { requiredKeys: [] }),
    authorizationInfo: fc.array(fc.record({ resource: text, permission: text, granted: fc.boolean() }, { requiredKeys: [] }), { minLength: 1, maxLength: 3 }),
    requestMetadata: fc.record({ callerIp: text, callerSuppliedUserAgent: text, callerNetwork: text }, { requiredKeys: [] }),
    request: object,
    response: object,
    metadata: object,
  },
  { requiredKeys: [] },
);

describe('decodeAuditLog on random payloads', () => {
  it('encodeAuditLog then decodeAuditLog gives the payload back, and what protobufjs decodes', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const bytes = encodeAuditLog(p);
        const decoded = decodeAuditLog(bytes);
        expect(decoded).toEqual({ '@type': AUDIT_LOG_TYPE, ...p });
        expect(JSON.stringify(decoded)).toBe(JSON.stringify(decodeAuditLogWithProtobufjs(bytes)));
      }),
      { numRuns: 500 },
    );
  });
});

/** Protobuf wire bytes, written by hand where the encoder cannot make them. */
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}
const len = (field: number, body: readonly number[]): number[] => [...varint((field << 3) | 2), ...varint(body.length), ...body];
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];

/**
 * An AuditLog whose request nests `levels` objects ({"a": {"a": ... "x"}}) or lists, written
 * outside in with the lengths computed first, so that a million levels cost no recursion and no
 * quadratic copying.
 */
function nested(levels: number, kind: 'struct' | 'list'): Buffer {
  const leaf = [0x1a, 1, 0x78]; // Value{string_value: "x"}
  // Inside out: the byte length of the Value at each level below the request Struct.
  const valueLen: number[] = new Array<number>(levels + 1);
  const bodyLen: number[] = new Array<number>(levels + 1); // the Struct's or ListValue's own bytes, per level
  const entryLen = (value: number): number => 3 + 1 + varint(value).length + value; // key "a", then the value
  valueLen[levels] = leaf.length;
  for (let level = levels; level >= 1; level--) {
    const inner = valueLen[level]!;
    const body = kind === 'struct' ? 1 + varint(entryLen(inner)).length + entryLen(inner) : 1 + varint(inner).length + inner;
    bodyLen[level] = body;
    valueLen[level - 1] = 1 + varint(body).length + body;
  }
  const out: number[] = [];
  out.push(...len(8, utf8('io.k8s.core.v1.configmaps.create')), ...len(11, utf8('core/v1/namespaces/default/configmaps/deep')));
  const tail = out.length;
  const parts: number[][] = [];
  // The request Struct is level 1: always a Struct, holding "a" → Value.
  const top = entryLen(valueLen[1]!);
  parts.push([...varint((16 << 3) | 2), ...varint(1 + varint(top).length + top), 0x0a, ...varint(top), 0x0a, 1, 0x61, 0x12, ...varint(valueLen[1]!)]);
  for (let level = 2; level <= levels; level++) {
    const body = bodyLen[level]!;
    const inner = valueLen[level]!;
    if (kind === 'struct') parts.push([0x2a, ...varint(body), 0x0a, ...varint(entryLen(inner)), 0x0a, 1, 0x61, 0x12, ...varint(inner)]);
    else parts.push([0x32, ...varint(body), 0x0a, ...varint(inner)]);
  }
  parts.push(leaf);
  return Buffer.concat([Buffer.from(out.slice(0, tail)), ...parts.map((p) => Buffer.from(p))]);
}

/** The depth of nested objects and arrays, walked without recursion. */
function depthOf(value: unknown): number {
  let depth = 0;
  for (let v = value; typeof v === 'object' && v !== null; v = Array.isArray(v) ? v[0] : (v as Record<string, unknown>).a) depth++;
  return depth;
}

describe('decodeAuditLog on deep Structs', () => {
  it.each(['struct', 'list'] as const)('takes a request of MAX_EVENT_DEPTH levels (%s), refuses one more', (kind) => {
    const ok = decodeAuditLog(nested(MAX_EVENT_DEPTH, kind));
    expect(depthOf(ok.request)).toBe(MAX_EVENT_DEPTH);
    expect(() => decodeAuditLog(nested(MAX_EVENT_DEPTH + 1, kind))).toThrow(AuditLogTooDeepError);
    expect(() => decodeAuditLog(nested(MAX_EVENT_DEPTH + 1, kind))).toThrow(`protoPayload.request nests objects and arrays deeper than ${MAX_EVENT_DEPTH} levels`);
  });

  it('refuses a million levels at level 257, reading no further', () => {
    const bytes = nested(1_000_000, 'struct');
    const started = performance.now();
    expect(() => decodeAuditLog(bytes)).toThrow(AuditLogTooDeepError);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a too-deep payload is a reject of the source with the normalizer’s reason, and the entry stays identified', () => {
    const raw = {
      insertId: 'deep-1',
      logName: 'projects/p/logs/cloudaudit.googleapis.com%2Factivity',
      timestamp: { seconds: 1_700_000_000, nanos: 0 },
      protoPayload: { type_url: AUDIT_LOG_TYPE, value: nested(MAX_EVENT_DEPTH + 1, 'struct') },
    };
    const result = fromWireEntry(raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe(`malformed entry: protoPayload.request nests objects and arrays deeper than ${MAX_EVENT_DEPTH} levels`);
    expect(result.insertId).toBe('deep-1');
    // One level less decodes, and the normalizer refuses it in its own words (the Event is one level above the body).
    const decoded = fromWireEntry({ ...raw, protoPayload: { type_url: AUDIT_LOG_TYPE, value: nested(MAX_EVENT_DEPTH, 'struct') } });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const event = normalizeGkeEntry({ ...decoded.json, resource: { type: 'k8s_cluster', labels: {} } });
    expect(isReject(event) && event.reason).toBe(result.reason);
  });
});

describe('decodeAuditLog on unusual and broken bytes', () => {
  it('skips fields it does not read, of every wire type, groups included', () => {
    const bytes = Buffer.from([
      ...varint((99 << 3) | 0), ...varint(2n ** 63n), // varint
      ...varint((98 << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      ...len(97, [1, 2, 3]), // length-delimited
      ...varint((96 << 3) | 5), 1, 2, 3, 4, // fixed32
      ...varint((95 << 3) | 3), ...varint((94 << 3) | 3), ...varint((93 << 3) | 0), 1, ...varint((94 << 3) | 4), ...varint((95 << 3) | 4), // nested groups
      ...varint((7 << 3) | 0), 5, // serviceName sent as a varint: not a string, skipped
      ...len(8, utf8('io.k8s.core.v1.pods.get')),
      ...len(16, [...len(1, [...len(1, utf8('k')), ...len(2, [...varint((9 << 3) | 0), 1, ...len(3, utf8('v'))])])]),
    ]);
    expect(decodeAuditLog(bytes)).toEqual({ '@type': AUDIT_LOG_TYPE, methodName: 'io.k8s.core.v1.pods.get', request: { k: 'v' } });
  });

  it.each([
    ['the emulator’s malformed payload (a truncated varint)', [0x3a, 0xff, 0xff, 0xff], /truncated varint/, true],
    ['a wire type that does not exist', [...varint((8 << 3) | 7)], /wire type 7/, true],
    ['a truncated double in a Struct', [...len(16, [...len(1, [...len(1, utf8('n')), ...len(2, [0x11, 0, 0])])])], /truncated double/, true],
    ['a group never closed', [...varint((95 << 3) | 3), ...varint((93 << 3) | 0), 1], /truncated varint/, true],
    // protobufjs cuts such a string short and carries on; a payload missing its end is refused here.
    ['a string longer than what is left', [...varint((8 << 3) | 2), 10, 0x61], /length past the end/, false],
  ])('throws on %s', (_what, bytes, message, protobufjsThrows) => {
    expect(() => decodeAuditLog(Buffer.from(bytes))).toThrow(message);
    if (protobufjsThrows) expect(() => decodeAuditLogWithProtobufjs(Buffer.from(bytes))).toThrow();
  });

  it('reads int64 and int32 as protobufjs does, negative ones included', () => {
    for (const n of [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 40 + 7, -(2 ** 40) - 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      const bytes = encodeAuditLog({ numResponseItems: n, status: { code: n | 0 } });
      expect(decodeAuditLog(bytes)).toEqual(decodeAuditLogWithProtobufjs(bytes));
      expect(decodeAuditLog(bytes).numResponseItems).toBe(n);
    }
  });

  it('keeps a "__proto__" key as an own property, as JSON.parse does, and leaves prototypes alone', () => {
    const bytes = Buffer.from(len(16, [...len(1, [...len(1, utf8('__proto__')), ...len(2, len(5, len(1, [...len(1, utf8('polluted')), ...len(2, [0x20, 1])])))])]));
    const request = decodeAuditLog(bytes).request as Record<string, unknown>;
    expect(Object.getPrototypeOf(request)).toBe(Object.prototype);
    expect(Object.keys(request)).toEqual(['__proto__']);
    expect(request).toEqual(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('gives a Status detail (an Any) as {type_url, value} with the value in base64', () => {
    const Status = protobuf.Root.fromJSON({
      nested: {
        Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
        Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'Any', id: 3 } } },
      },
    }).lookupType('Status');
    const status = Status.encode(Status.fromObject({ code: 5, message: 'gone', details: [{ type_url: 'type.googleapis.com/x.Y', value: Buffer.from([0, 255, 7]) }] })).finish();
    const bytes = Buffer.from([...len(2, [...status])]);
    expect(decodeAuditLog(bytes).status).toEqual({ code: 5, message: 'gone', details: [{ type_url: 'type.googleapis.com/x.Y', value: Buffer.from([0, 255, 7]).toString('base64') }] });
  });

  it('gives every key right whatever the key cache holds: many short keys sharing its slots, non-ASCII and long ones', () => {
    const keys = [
      ...Array.from({ length: 5000 }, (_, i) => `k${i}`),
      ...Array.from({ length: 50 }, (_, i) => `clé-${i}`),
      ...Array.from({ length: 50 }, (_, i) => `${'long-key-'.repeat(4)}${i}`),
      '',
    ];
    const request = Object.fromEntries(keys.map((k, i) => [k, i]));
    for (let round = 0; round < 2; round++) {
      const bytes = encodeAuditLog({ request, response: { nested: request } });
      const decoded = decodeAuditLog(bytes);
      expect(decoded.request).toEqual(request);
      expect(Object.keys(decoded.request as object)).toEqual(Object.keys(request));
      expect((decoded.response as { nested: unknown }).nested).toEqual(request);
    }
  });

  it('reads a map entry without a key or a value as protobuf defines them: "" and null', () => {
    const bytes = Buffer.from(len(16, [...len(1, len(2, len(3, utf8('v')))), ...len(1, len(1, utf8('k')))]));
    expect(decodeAuditLog(bytes).request).toEqual({ '': 'v', k: null });
  });
});
