import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/event/event.js';
import { compileScrubPaths, REDACTED, SCRUBBED_ANNOTATION, scrubAll, scrubEvent } from '../../src/process/scrub.js';
import { makeEvent, SAMPLES } from '../helpers/events.js';

const secrets = { secrets: true, paths: [] };

function secretEvent(overrides: Partial<AuditEvent>): AuditEvent {
  return makeEvent(1, {
    level: 'RequestResponse',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
    ...overrides,
  });
}

describe('scrubbing Secrets', () => {
  it('redacts data and stringData values, keeps keys and everything else, and annotates the event', () => {
    const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', labels: { app: 'db' } }, type: 'Opaque', data: { password: 'aHVudGVyMg==' }, stringData: { user: 'admin' } };
    const event = secretEvent({ requestObject: secret, responseObject: { ...secret, stringData: undefined } });
    const out = scrubEvent(event, secrets);
    expect(out.requestObject).toEqual({ ...secret, data: { password: REDACTED }, stringData: { user: REDACTED } });
    expect(out.responseObject).toEqual({ ...secret, stringData: undefined, data: { password: REDACTED } });
    expect(out.annotations).toEqual({ [SCRUBBED_ANNOTATION]: 'requestObject,responseObject' });
    expect(Object.keys(out)).toEqual([...Object.keys(event), 'annotations']);
    expect(secret.data.password).toBe('aHVudGVyMg==');
  });

  it('adds no field the event did not have', () => {
    const get = secretEvent({ verb: 'get', responseObject: { kind: 'Secret', data: { a: 'x' } } });
    expect(Object.keys(scrubEvent(get, secrets))).toEqual([...Object.keys(get), 'annotations']);
  });

  it('merges the annotation with the existing ones, sorted', () => {
    const event = secretEvent({ annotations: { 'authorization.k8s.io/decision': 'allow' }, requestObject: { data: { a: 'x' } } });
    expect(Object.keys(scrubEvent(event, secrets).annotations!)).toEqual(['authorization.k8s.io/decision', SCRUBBED_ANNOTATION]);
  });

  it('returns the same event when there is nothing to scrub', () => {
    const configMap = makeEvent(2, { level: 'RequestResponse', requestObject: { kind: 'ConfigMap', data: { password: 'x' } } });
    expect(scrubEvent(configMap, secrets)).toBe(configMap);
    const metadataOnly = secretEvent({ level: 'Metadata' });
    expect(scrubEvent(metadataOnly, secrets)).toBe(metadataOnly);
    const deleteOptions = secretEvent({ verb: 'delete', requestObject: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
    expect(scrubEvent(deleteOptions, secrets)).toBe(deleteOptions);
    expect(scrubEvent(secretEvent({ requestObject: { data: { a: 'x' } } }), { secrets: false, paths: [] }).requestObject).toEqual({ data: { a: 'x' } });
  });

  it('redacts a body it cannot read by key (a YAML apply patch kept as text)', () => {
    const out = scrubEvent(secretEvent({ verb: 'patch', requestObject: 'stringData:\n  password: hunter2\n' }), secrets);
    expect(out.requestObject).toBe(REDACTED);
  });

  it('redacts the bearer tokens of TokenReview and TokenRequest bodies', () => {
    const review = makeEvent(3, {
      level: 'RequestResponse',
      verb: 'create',
      objectRef: { resource: 'tokenreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' },
      requestObject: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: 'eyJhbGciOi' } },
      responseObject: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: 'eyJhbGciOi' }, status: { authenticated: true } },
    });
    const out = scrubEvent(review, secrets);
    expect(JSON.stringify(out)).not.toContain('eyJhbGciOi');
    expect(out.responseObject).toEqual({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: REDACTED }, status: { authenticated: true } });
    const request = makeEvent(4, {
      level: 'RequestResponse',
      verb: 'create',
      objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'default', name: 'build', apiVersion: 'v1' },
      responseObject: { status: { token: 'eyJhbGciOi', expirationTimestamp: '2026-01-01T00:00:00Z' } },
    });
    expect(scrubEvent(request, secrets).responseObject).toEqual({ status: { token: REDACTED, expirationTimestamp: '2026-01-01T00:00:00Z' } });
  });

  it('counts the events it changed in a batch', () => {
    const batch = [secretEvent({ requestObject: { data: { a: 'x' } } }), makeEvent(5), secretEvent({ responseObject: { kind: 'SecretList', items: [{ data: { b: 'y' } }] } })];
    const out = scrubAll(batch, secrets);
    expect(out.scrubbed).toBe(2);
    expect(out.events[1]).toBe(batch[1]);
  });
});

describe('extra scrub paths', () => {
  const configMapEvent = (): AuditEvent => {
    const line = readFileSync(`${SAMPLES}k8s-events/falco-trace-files/create_configmap_sensitive_values.json`, 'utf8').split('\n')[0]!;
    return JSON.parse(line) as AuditEvent;
  };

  it("redacts the ConfigMap keys that look like credentials (Falco's sensitive-values sample)", () => {
    const { rules, problems } = compileScrubPaths([
      { path: ['requestObject.data', 'responseObject.data', 'responseObject.items.data'], keys: 'password|token|secret|access', when: 'jpath("objectRef.resource") = "configmaps"' },
    ]);
    expect(problems).toEqual([]);
    const event = configMapEvent();
    const out = scrubEvent(event, { secrets: true, paths: rules });
    expect(JSON.stringify(out)).not.toContain('MY-KEY');
    expect((out.requestObject as { data: Record<string, string> }).data).toEqual({
      'access.properties': REDACTED,
      'ui.properties': 'color.good=purple\ncolor.bad=yellow\nallow.textmode=true\n',
    });
    expect(out.annotations?.[SCRUBBED_ANNOTATION]).toBe('requestObject,responseObject');
    // `when` limits the rule to the events it matches.
    const other = { ...event, objectRef: { ...event.objectRef, resource: 'widgets' } };
    expect(scrubEvent(other, { secrets: true, paths: rules })).toBe(other);
  });

  it('replaces whatever a plain path reaches, through arrays', () => {
    const { rules } = compileScrubPaths(['requestObject.spec.containers.env.value', 'user.extra']);
    const event = makeEvent(6, {
      level: 'Request',
      user: { username: 'alice', extra: { 'iam.gke.io/user-assertion': ['AKUJVp...'] } },
      requestObject: { spec: { containers: [{ name: 'a', env: [{ name: 'API_KEY', value: 'k1' }, { name: 'N' }] }, { name: 'b', env: [{ name: 'X', value: 'k2' }] }] } },
    });
    const out = scrubEvent(event, { secrets: false, paths: rules });
    expect(out.requestObject).toEqual({ spec: { containers: [{ name: 'a', env: [{ name: 'API_KEY', value: REDACTED }, { name: 'N' }] }, { name: 'b', env: [{ name: 'X', value: REDACTED }] }] } });
    expect(out.user.extra).toBe(REDACTED);
    expect(out.annotations?.[SCRUBBED_ANNOTATION]).toBe('requestObject,user');
  });

  it('reports every bad entry with its index', () => {
    expect(compileScrubPaths(['a..b', { path: 'requestObject.data', keys: '(' }, { path: ['x', ''], when: 'jpath("a") ==' }]).problems).toEqual([
      '[0]: got "a..b"; expected a jpath path (expected a key before "." (an empty key; write \\. for a dot inside a key) at offset 2)',
      expect.stringMatching(/^\[1\]\.keys: got "\("; expected a regular expression \(/),
      expect.stringMatching(/^\[2\]\.when: line 1, column \d+: /),
      '[2].path[1]: got ""; expected a jpath path (expected a path such as user.username, found an empty path at offset 0)',
    ]);
  });
});
