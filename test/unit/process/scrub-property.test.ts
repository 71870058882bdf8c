// No Secret value survives scrubbing, whatever shape carries it: a Secret (with or without kind),
// a SecretList, a List or Table holding Secrets, a merge or apply patch, a JSON patch, with the
// values in data, stringData and kubectl's last-applied-configuration annotation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/normalize/event.js';
import { REDACTED, SCRUBBED_ANNOTATION, scrubEvent } from '../../../src/process/scrub.js';
import { makeEvent } from '../../helpers/events.js';

const MARK = '§SECRET§';
const key = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
// Every secret value carries the mark, so finding it in the output means a value leaked.
const value = fc.string({ maxLength: 12 }).map((s) => `${MARK}${s}`);
const entries = fc.dictionary(key, value, { minKeys: 1, maxKeys: 4 });

interface Secret {
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

const withKind = secret.map((s) => ({ ...s, kind: 'Secret', apiVersion: 'v1' }));

/** A body and the request it belongs to. `about` says whether the event's objectRef names secrets. */
type Shape = { verb: string; requestObject?: unknown; responseObject?: unknown; about: 'secrets' | 'other' };

const shapes: fc.Arbitrary<Shape> = fc.oneof(
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

function eventOf(shape: Shape, apiGroup: string | undefined): AuditEvent {
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

describe('scrubbing Secrets (property)', () => {
  it('leaves no Secret value in any shape, and says so in the annotation', () => {
    fc.assert(
      fc.property(shapes, fc.constantFrom(undefined, ''), (shape, apiGroup) => {
        const event = eventOf(shape, apiGroup);
        const before = JSON.stringify(event);
        const scrubbed = scrubEvent(event, { secrets: true, paths: [] });
        const text = JSON.stringify(scrubbed);
        expect(text).not.toContain(MARK);
        if (before.includes(MARK)) {
          expect(text).toContain(REDACTED);
          expect(scrubbed.annotations?.[SCRUBBED_ANNOTATION]).toMatch(/^(requestObject|responseObject)(,responseObject)?$/);
        } else expect(scrubbed).toBe(event);
        // The input is never modified (other sinks may get it unscrubbed).
        expect(JSON.stringify(event)).toBe(before);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the keys, so detections can still see which keys a request touched', () => {
    fc.assert(
      fc.property(withKind, (s) => {
        const scrubbed = scrubEvent(eventOf({ verb: 'get', responseObject: s, about: 'secrets' }, ''), { secrets: true, paths: [] });
        const body = scrubbed.responseObject as Secret;
        expect(Object.keys(body.data ?? {})).toEqual(Object.keys(s.data ?? {}));
        expect(Object.values(body.data ?? {}).every((v) => v === REDACTED)).toBe(true);
        expect(body.metadata.name).toBe(s.metadata.name);
      }),
      { numRuns: 200 },
    );
  });
});
