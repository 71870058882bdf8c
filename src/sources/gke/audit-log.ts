// The google.cloud.audit.AuditLog message that a GKE LogEntry carries in protoPayload (a
// google.protobuf.Any). Neither the logging SDK nor google-gax ships its schema, so the SDK hands
// the payload over undecoded. This is the subset the bridge reads, with the official field
// numbers; protobuf skips the fields it does not list.

import protobuf from 'protobufjs';
import { isPlainObject } from '../../event/event.js';
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
 * AuditLog bytes → the protoPayload as Cloud Logging's JSON shows it: camelCase keys, Structs as
 * plain objects, "@type" first. Throws on bytes that are not an AuditLog.
 */
export function decodeAuditLog(bytes: Uint8Array): Json {
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
