// The google.cloud.audit.AuditLog message that a GKE LogEntry carries in protoPayload (a
// google.protobuf.Any). Neither the logging SDK nor google-gax ships its schema, so the SDK hands
// the payload over undecoded.
//
// decodeAuditLog reads the wire bytes straight into the JSON Cloud Logging shows (no message
// objects, no Struct → JSON pass): the subset of fields the bridge reads, with the official field
// numbers; any other field is skipped. The protobufjs schema below is the emulator's encoder, and
// the reference the decoder is tested against (test/sources/gke/audit-log.test.ts).

import protobuf from 'protobufjs';
import { isPlainObject, MAX_EVENT_DEPTH } from '../../event/event.js';
import { AUDIT_LOG_TYPE } from './normalize.js';

const schema = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
            Value: {
              oneofs: { kind: { oneof: ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'] } },
              fields: {
                nullValue: { type: 'NullValue', id: 1 },
                numberValue: { type: 'double', id: 2 },
                stringValue: { type: 'string', id: 3 },
                boolValue: { type: 'bool', id: 4 },
                structValue: { type: 'Struct', id: 5 },
                listValue: { type: 'ListValue', id: 6 },
              },
            },
            NullValue: { values: { NULL_VALUE: 0 } },
            ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
          },
        },
        cloud: {
          nested: {
            audit: {
              nested: {
                AuditLog: {
                  fields: {
                    serviceName: { type: 'string', id: 7 },
                    methodName: { type: 'string', id: 8 },
                    resourceName: { type: 'string', id: 11 },
                    numResponseItems: { type: 'int64', id: 12 },
                    status: { type: 'google.rpc.Status', id: 2 },
                    authenticationInfo: { type: 'AuthenticationInfo', id: 3 },
                    authorizationInfo: { rule: 'repeated', type: 'AuthorizationInfo', id: 9 },
                    requestMetadata: { type: 'RequestMetadata', id: 4 },
                    request: { type: 'google.protobuf.Struct', id: 16 },
                    response: { type: 'google.protobuf.Struct', id: 17 },
                    metadata: { type: 'google.protobuf.Struct', id: 18 },
                  },
                },
                AuthenticationInfo: {
                  fields: {
                    principalEmail: { type: 'string', id: 1 },
                    authoritySelector: { type: 'string', id: 2 },
                    serviceAccountKeyName: { type: 'string', id: 5 },
                    principalSubject: { type: 'string', id: 8 },
                  },
                },
                AuthorizationInfo: {
                  fields: {
                    resource: { type: 'string', id: 1 },
                    permission: { type: 'string', id: 2 },
                    granted: { type: 'bool', id: 3 },
                  },
                },
                RequestMetadata: {
                  fields: {
                    callerIp: { type: 'string', id: 1 },
                    callerSuppliedUserAgent: { type: 'string', id: 2 },
                    callerNetwork: { type: 'string', id: 3 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
const root = protobuf.Root.fromJSON(schema);

const AuditLog = root.lookupType('google.cloud.audit.AuditLog');
const STRUCT_FIELDS = ['request', 'response', 'metadata'] as const;

type Json = Record<string, unknown>;

/** A decoded google.protobuf.Value → plain JSON. Struct numbers are doubles, as JSON numbers are. */
export function fromValue(value: unknown): unknown {
  if (!isPlainObject(value)) return null;
  if ('stringValue' in value) return value.stringValue;
  if ('numberValue' in value) return value.numberValue;
  if ('boolValue' in value) return value.boolValue;
  if ('structValue' in value) return fromStruct(value.structValue);
  if ('listValue' in value) {
    const list = value.listValue;
    return isPlainObject(list) && Array.isArray(list.values) ? list.values.map(fromValue) : [];
  }
  return null; // nullValue, or a Value with no kind set
}

export function fromStruct(struct: unknown): Json {
  const out: Json = {};
  if (!isPlainObject(struct) || !isPlainObject(struct.fields)) return out;
  for (const [key, value] of Object.entries(struct.fields)) out[key] = fromValue(value);
  return out;
}

export function toValue(value: unknown): Json {
  if (value === null || value === undefined) return { nullValue: 0 };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  if (typeof value === 'object') return { structValue: toStruct(value as Json) };
  if (typeof value === 'bigint') return { numberValue: Number(value) };
  return { nullValue: 0 }; // functions and symbols have no JSON form
}

export function toStruct(object: Json): Json {
  const fields: Json = {};
  for (const [key, value] of Object.entries(object)) fields[key] = toValue(value);
  return { fields };
}

/**
 * AuditLog bytes → the protoPayload through protobufjs message objects and a Struct → JSON pass:
 * what decodeAuditLog did before it read the wire itself. Kept as the reference it is tested and
 * measured against (a deep Struct overflows its stack); the source does not use it.
 */
export function decodeAuditLogWithProtobufjs(bytes: Uint8Array): Json {
  const message = AuditLog.decode(bytes);
  const object = AuditLog.toObject(message, { longs: Number, defaults: false, arrays: false });
  const out: Json = { '@type': AUDIT_LOG_TYPE };
  for (const [key, value] of Object.entries(object)) {
    out[key] = (STRUCT_FIELDS as readonly string[]).includes(key) ? fromStruct(value) : value;
  }
  return out;
}

/** The protoPayload JSON of a LogEntry (as gcloud prints it) → AuditLog bytes: the emulator's wire form. */
export function encodeAuditLog(payload: Json): Uint8Array {
  const object: Json = {};
  for (const [key, value] of Object.entries(payload)) {
    if (key === '@type') continue;
    object[key] = (STRUCT_FIELDS as readonly string[]).includes(key) && isPlainObject(value) ? toStruct(value) : value;
  }
  return AuditLog.encode(AuditLog.fromObject(object)).finish();
}

/** A Struct in the payload nests deeper than the bridge takes (MAX_EVENT_DEPTH, src/event/event.ts). */
export class AuditLogTooDeepError extends Error {
  constructor(readonly field: string) {
    super(`protoPayload.${field} nests objects and arrays deeper than ${MAX_EVENT_DEPTH} levels`);
    this.name = 'AuditLogTooDeepError';
  }
}

// Wire types (protobuf encoding): what follows a field's tag.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

/**
 * Buffer's own decoders, without toString's argument handling (a third of the decoding time on
 * these payloads); long-standing though undocumented, and what protobufjs reads strings with.
 */
interface SliceDecoders {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
const fast = typeof (Buffer.prototype as unknown as Partial<SliceDecoders>).utf8Slice === 'function';
const utf8 = fast ? (b: Buffer, from: number, to: number): string => (b as unknown as SliceDecoders).utf8Slice(from, to) : (b: Buffer, from: number, to: number): string => b.toString('utf8', from, to);
const latin1 = fast ? (b: Buffer, from: number, to: number): string => (b as unknown as SliceDecoders).latin1Slice(from, to) : (b: Buffer, from: number, to: number): string => b.toString('latin1', from, to);

/**
 * The Struct keys met lately, by a hash of their bytes: objects of one kind repeat their keys
 * ("metadata", "name", "managedFields"), and handing back the same string skips both making it and
 * V8's lookup of it as a property name (decoding runs about 1.4 times as fast). A hit is checked
 * byte by byte, so a collision costs a miss, never a wrong key.
 */
const KEY_CACHE_SIZE = 1024;
const MAX_CACHED_KEY = 32;
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SIZE);

/**
 * A cursor over protobuf wire bytes. Every read checks the bounds of the message it is in and
 * throws on bytes that end early or make no sense (Cloud Logging never sends them; a reject is
 * the answer, never a partial payload).
 */
class WireReader {
  pos = 0;
  /** The high 32 bits of the last varint64 read. */
  hi = 0;
  readonly text: Buffer;

  constructor(readonly buf: Uint8Array) {
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(what: string): never {
    throw new Error(`${what} at byte ${this.pos} of ${this.buf.length}`);
  }

  /** A varint's low 32 bits (unsigned); its other bits are read and dropped. */
  uint32(end: number): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) this.fail('truncated varint');
      const b = buf[this.pos++]!;
      if (shift < 32) value |= (b & 0x7f) << shift;
      if (b < 0x80) return value >>> 0;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A varint's low 32 bits, with the high ones in `hi`. */
  uint64(end: number): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.fail('truncated varint');
      const b = buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) {
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A length-delimited field's end, checked against the enclosing one's. */
  length(end: number): number {
    const n = this.uint32(end);
    const to = this.pos + n;
    if (to > end) this.fail('length past the end of its message');
    return to;
  }

  string(end: number): string {
    const to = this.length(end);
    const from = this.pos;
    this.pos = to;
    return utf8(this.text, from, to);
  }

  /** A string that is a Struct key: from the cache when it is short ASCII met before. */
  key(end: number): string {
    const to = this.length(end);
    const from = this.pos;
    this.pos = to;
    const n = to - from;
    if (n === 0) return '';
    if (n > MAX_CACHED_KEY) return utf8(this.text, from, to);
    const buf = this.buf;
    let h = n;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b >= 0x80) return utf8(this.text, from, to);
      h = Math.imul(h ^ b, 0x01000193);
    }
    const slot = h >>> 22; // the top 10 bits: KEY_CACHE_SIZE slots
    const cached = keyCache[slot];
    if (cached !== undefined && cached.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cached.charCodeAt(i) !== buf[from + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    const key = latin1(this.text, from, to);
    keyCache[slot] = key;
    return key;
  }

  double(end: number): number {
    if (this.pos + 8 > end) this.fail('truncated double');
    const value = this.text.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Skips a field of wire type `type` whose tag was just read (an unknown field, or a known one sent with another type). */
  skip(type: number, end: number): void {
    switch (type) {
      case VARINT:
        this.uint32(end);
        return;
      case FIXED64:
        if ((this.pos += 8) > end) this.fail('truncated fixed64');
        return;
      case LENGTH:
        this.pos = this.length(end);
        return;
      case FIXED32:
        if ((this.pos += 4) > end) this.fail('truncated fixed32');
        return;
      case START_GROUP: {
        // Groups nest: count them instead of recursing.
        let open = 1;
        while (open > 0) {
          const tag = this.uint32(end);
          const t = tag & 7;
          if (t === START_GROUP) open++;
          else if (t === END_GROUP) open--;
          else this.skip(t, end);
        }
        return;
      }
      default:
        this.fail(`wire type ${type}`);
    }
  }
}

/**
 * AuditLog bytes → the protoPayload as Cloud Logging's JSON shows it: "@type" first, then the
 * fields the bridge reads under their JSON names, Structs as plain objects (numbers are doubles,
 * as JSON's are), int64 as a number. The keys come in the order protobufjs gave them (field
 * number order), so the JSON text is the same as before. A Status detail
 * (an Any) is {type_url, value} with the value in base64.
 *
 * Throws on bytes that are not an AuditLog, and AuditLogTooDeepError on a Struct nested deeper
 * than MAX_EVENT_DEPTH levels (the recursion below stops there, whatever the input).
 */
export function decodeAuditLog(bytes: Uint8Array): Json {
  const r = new WireReader(bytes);
  const end = bytes.length;
  let serviceName: string | undefined;
  let methodName: string | undefined;
  let resourceName: string | undefined;
  let numResponseItems: number | undefined;
  let status: Json | undefined;
  let authenticationInfo: Json | undefined;
  let authorizationInfo: Json[] | undefined;
  let requestMetadata: Json | undefined;
  let request: Json | undefined;
  let response: Json | undefined;
  let metadata: Json | undefined;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const type = tag & 7;
    const field = tag >>> 3;
    if (type === LENGTH) {
      switch (field) {
        case 7:
          serviceName = r.string(end);
          continue;
        case 8:
          methodName = r.string(end);
          continue;
        case 11:
          resourceName = r.string(end);
          continue;
        case 2:
          status = readStatus(r, r.length(end));
          continue;
        case 3:
          authenticationInfo = readStrings(r, r.length(end), AUTHENTICATION_INFO);
          continue;
        case 9:
          (authorizationInfo ??= []).push(readAuthorizationInfo(r, r.length(end)));
          continue;
        case 4:
          requestMetadata = readStrings(r, r.length(end), REQUEST_METADATA);
          continue;
        case 16:
          request = readStruct(r, r.length(end), 1, 'request');
          continue;
        case 17:
          response = readStruct(r, r.length(end), 1, 'response');
          continue;
        case 18:
          metadata = readStruct(r, r.length(end), 1, 'metadata');
          continue;
      }
    } else if (type === VARINT && field === 12) {
      numResponseItems = int64(r.uint64(end), r.hi);
      continue;
    }
    r.skip(type, end);
  }
  // In field-number order, as protobufjs's toObject gave them.
  const out: Json = { '@type': AUDIT_LOG_TYPE };
  if (status !== undefined) out.status = status;
  if (authenticationInfo !== undefined) out.authenticationInfo = authenticationInfo;
  if (requestMetadata !== undefined) out.requestMetadata = requestMetadata;
  if (serviceName !== undefined) out.serviceName = serviceName;
  if (methodName !== undefined) out.methodName = methodName;
  if (authorizationInfo !== undefined) out.authorizationInfo = authorizationInfo;
  if (resourceName !== undefined) out.resourceName = resourceName;
  if (numResponseItems !== undefined) out.numResponseItems = numResponseItems;
  if (request !== undefined) out.request = request;
  if (response !== undefined) out.response = response;
  if (metadata !== undefined) out.metadata = metadata;
  return out;
}

/** A signed int64 from its two halves, as a number (exact up to 2^53, as protobufjs's longs: Number). */
function int64(lo: number, hi: number): number {
  if (hi >>> 31 === 0) return lo + hi * 4294967296;
  // Two's complement: negate both halves.
  const nlo = (~lo + 1) >>> 0;
  const nhi = nlo === 0 ? (~hi + 1) >>> 0 : ~hi >>> 0;
  return -(nlo + nhi * 4294967296);
}

/** Field number → JSON name of the string fields of a message that has nothing else. */
const AUTHENTICATION_INFO: readonly (string | undefined)[] = [undefined, 'principalEmail', 'authoritySelector', undefined, undefined, 'serviceAccountKeyName', undefined, undefined, 'principalSubject'];
const REQUEST_METADATA: readonly (string | undefined)[] = [undefined, 'callerIp', 'callerSuppliedUserAgent', 'callerNetwork'];

function readStrings(r: WireReader, end: number, names: readonly (string | undefined)[]): Json {
  const values: (string | undefined)[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    const field = tag >>> 3;
    const name = field < names.length ? names[field] : undefined;
    if ((tag & 7) === LENGTH && name !== undefined) values[field] = r.string(end);
    else r.skip(tag & 7, end);
  }
  // In field-number order, as protobufjs's toObject gave them.
  const out: Json = {};
  for (let field = 1; field < names.length; field++) if (values[field] !== undefined) out[names[field]!] = values[field];
  return out;
}

function readAuthorizationInfo(r: WireReader, end: number): Json {
  let resource: string | undefined;
  let permission: string | undefined;
  let granted: boolean | undefined;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const type = tag & 7;
    const field = tag >>> 3;
    if (type === LENGTH && field === 1) resource = r.string(end);
    else if (type === LENGTH && field === 2) permission = r.string(end);
    else if (type === VARINT && field === 3) granted = (r.uint64(end) | r.hi) !== 0;
    else r.skip(type, end);
  }
  const out: Json = {};
  if (resource !== undefined) out.resource = resource;
  if (permission !== undefined) out.permission = permission;
  if (granted !== undefined) out.granted = granted;
  return out;
}

function readStatus(r: WireReader, end: number): Json {
  let code: number | undefined;
  let message: string | undefined;
  let details: Json[] | undefined;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const type = tag & 7;
    const field = tag >>> 3;
    if (type === VARINT && field === 1) code = r.uint32(end) | 0;
    else if (type === LENGTH && field === 2) message = r.string(end);
    else if (type === LENGTH && field === 3) (details ??= []).push(readAny(r, r.length(end)));
    else r.skip(type, end);
  }
  const out: Json = {};
  if (code !== undefined) out.code = code;
  if (message !== undefined) out.message = message;
  if (details !== undefined) out.details = details;
  return out;
}

function readAny(r: WireReader, end: number): Json {
  let typeUrl: string | undefined;
  let value: string | undefined;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const type = tag & 7;
    const field = tag >>> 3;
    if (type === LENGTH && field === 1) typeUrl = r.string(end);
    else if (type === LENGTH && field === 2) {
      const to = r.length(end);
      value = r.text.toString('base64', r.pos, to);
      r.pos = to;
    } else r.skip(type, end);
  }
  const out: Json = {};
  if (typeUrl !== undefined) out.type_url = typeUrl;
  if (value !== undefined) out.value = value;
  return out;
}

/**
 * google.protobuf.Struct → a plain object, entries in wire order (a repeated key keeps its first
 * place and its last value, as JSON.parse does). `depth` is this object's level, 1 for a payload
 * field; the recursion through readValue stops at MAX_EVENT_DEPTH.
 */
function readStruct(r: WireReader, end: number, depth: number, field: string): Json {
  if (depth > MAX_EVENT_DEPTH) throw new AuditLogTooDeepError(field);
  const out: Json = {};
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag !== ((1 << 3) | LENGTH)) {
      r.skip(tag & 7, end);
      continue;
    }
    // A map entry: key = 1, value = 2, either may be missing (the defaults: "" and a Value with no kind, null).
    const entryEnd = r.length(end);
    let key = '';
    let value: unknown = null;
    while (r.pos < entryEnd) {
      const entryTag = r.uint32(entryEnd);
      if (entryTag === ((1 << 3) | LENGTH)) key = r.key(entryEnd);
      else if (entryTag === ((2 << 3) | LENGTH)) value = readValue(r, r.length(entryEnd), depth, field);
      else r.skip(entryTag & 7, entryEnd);
    }
    // An own "__proto__" key, as JSON.parse makes it, not the object's prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** google.protobuf.Value → JSON; a Value with no kind, or null_value, is null; the last kind on the wire wins. */
function readValue(r: WireReader, end: number, depth: number, field: string): unknown {
  let value: unknown = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    switch (tag) {
      case (1 << 3) | VARINT:
        r.uint32(end);
        value = null;
        break;
      case (2 << 3) | FIXED64:
        value = r.double(end);
        break;
      case (3 << 3) | LENGTH:
        value = r.string(end);
        break;
      case (4 << 3) | VARINT:
        value = (r.uint64(end) | r.hi) !== 0;
        break;
      case (5 << 3) | LENGTH:
        value = readStruct(r, r.length(end), depth + 1, field);
        break;
      case (6 << 3) | LENGTH:
        value = readList(r, r.length(end), depth + 1, field);
        break;
      default:
        r.skip(tag & 7, end);
    }
  }
  return value;
}

/** google.protobuf.ListValue → an array at level `depth`. */
function readList(r: WireReader, end: number, depth: number, field: string): unknown[] {
  if (depth > MAX_EVENT_DEPTH) throw new AuditLogTooDeepError(field);
  const out: unknown[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === ((1 << 3) | LENGTH)) out.push(readValue(r, r.length(end), depth, field));
    else r.skip(tag & 7, end);
  }
  return out;
}
