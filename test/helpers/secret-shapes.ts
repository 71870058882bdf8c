// Secret-bearing audit events of every shape the scrubber must handle: a Secret (with or without
// kind), a SecretList, a List or Table holding Secrets, a merge or apply patch, a JSON patch, with
// values in data, stringData and kubectl's last-applied-configuration annotation. Every secret
// value carries MARK, so finding it in any output means a value leaked.
import fc from 'fast-check';
import type { AuditEvent } from '../../src/event/event.js';
import { makeEvent } from './events.js';

export const MARK = '§SECRET§';
const key = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
// Every secret value carries the mark, so finding it in the output means a value leaked.
const value = fc.string({ maxLength: 12 }).map((s) => `${MARK}${s}`);
const entries = fc.dictionary(key, value, { minKeys: 1, maxKeys: 4 });

export interface Secret {
  kind?: string;
  apiVersion?: string;
  metadata: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
}

const secret: fc.Arbitrary<Secret> = fc
  .record({
    withKind: fc.boolean(),
    name: key,
    data: fc.option(entries, { nil: undefined }),
    stringData: fc.option(entries, { nil: undefined }),
    lastApplied: fc.boolean(),
    managed: fc.boolean(),
  })
  .map(({ withKind, name, data, stringData, lastApplied, managed }) => {
    const s: Secret = { metadata: { name, namespace: 'default' }, type: 'Opaque' };
    if (withKind) Object.assign(s, { kind: 'Secret', apiVersion: 'v1' });
    if (data) s.data = data;
    if (stringData) s.stringData = stringData;
    // Make sure something secret is in it.
    if (!data && !stringData) s.data = { token: `${MARK}fallback` };
    if (lastApplied) s.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ ...s, metadata: { name } }) };
    if (managed) s.metadata.managedFields = [{ manager: 'kubectl', fieldsV1: { 'f:data': Object.fromEntries(Object.keys(s.data ?? {}).map((k) => [`f:${k}`, {}])) } }];
    return s;
  });

export const withKind = secret.map((s) => ({ ...s, kind: 'Secret', apiVersion: 'v1' }));

/** A body and the request it belongs to. `about` says whether the event's objectRef names secrets. */
export type Shape = { verb: string; requestObject?: unknown; responseObject?: unknown; about: 'secrets' | 'other' };

export const shapes: fc.Arbitrary<Shape> = fc.oneof(
  secret.map((s) => ({ verb: 'create', requestObject: s, responseObject: s, about: 'secrets' as const })),
  secret.map((s) => ({ verb: 'get', responseObject: s, about: 'secrets' as const })),
  fc.array(secret, { minLength: 1, maxLength: 3 }).map((items) => ({
    verb: 'list',
    responseObject: { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items },
    about: 'secrets' as const,
  })),
  fc.array(withKind, { minLength: 1, maxLength: 3 }).map((items) => ({
    verb: 'list',
    responseObject: { kind: 'List', apiVersion: 'v1', metadata: {}, items },
    about: 'other' as const,
  })),
  fc.array(withKind, { minLength: 1, maxLength: 3 }).map((objects) => ({
    verb: 'list',
    responseObject: { kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: objects.map((object) => ({ cells: [object.metadata.name], object })) },
    about: 'secrets' as const,
  })),
  // Strategic merge / merge / apply patches: the Secret's fields without a kind.
  fc.record({ data: fc.option(entries, { nil: undefined }), stringData: entries }).map((patch) => ({ verb: 'patch', requestObject: patch, about: 'secrets' as const })),
  // RFC 6902 JSON patches.
  fc
    .array(
      fc.oneof(
        fc.tuple(key, value).map(([k, v]) => ({ op: 'add', path: `/data/${k}`, value: v })),
        fc.tuple(key, value).map(([k, v]) => ({ op: 'replace', path: `/stringData/${k}`, value: v })),
        fc.tuple(key, value).map(([k, v]) => ({ op: 'test', path: `/data/${k}`, value: v })),
        entries.map((v) => ({ op: 'replace', path: '/data', value: v })),
        entries.map((v) => ({ op: 'add', path: '/stringData', value: v })),
        secret.map((s) => ({ op: 'replace', path: '', value: s })),
        secret.map((s) => ({ op: 'add', path: '/metadata', value: s.metadata })),
        value.map((v) => ({ op: 'add', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration', value: `{"data":{"a":"${v}"}}` })),
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((ops) => ({ verb: 'patch', requestObject: ops, about: 'secrets' as const })),
  // Under any other request, an object that says it is a Secret is one.
  secret.map((s) => ({ verb: 'create', requestObject: { kind: 'Wrapper', spec: { template: { ...s, kind: 'Secret' } } }, about: 'other' as const })),
);

export function eventOf(shape: Shape, apiGroup: string | undefined): AuditEvent {
  const event = makeEvent(1, {
    level: 'RequestResponse',
    verb: shape.verb,
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: shape.about === 'secrets' ? { resource: 'secrets', namespace: 'default', apiVersion: 'v1', ...(apiGroup !== undefined ? { apiGroup } : {}) } : { resource: 'widgets', apiGroup: 'example.com', apiVersion: 'v1' },
  });
  if (shape.requestObject !== undefined) event.requestObject = shape.requestObject;
  if (shape.responseObject !== undefined) event.responseObject = shape.responseObject;
  return event;
}
