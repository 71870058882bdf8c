import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAuditBody } from '../../../src/sources/webhook/parse.js';
import { AuditWebhookClient } from '../../../src/sources/webhook/apiserver-client.js';
import { SAMPLES, makeEvent, makeEvents } from '../../helpers/events.js';

describe('parseAuditBody', () => {
  it('reads an EventList as the kube-apiserver sends it (items without kind/apiVersion)', () => {
    const events = makeEvents(1, 3);
    const parsed = parseAuditBody(AuditWebhookClient.body(events));
    expect(parsed).toEqual({ ok: true, events, rejects: [] });
  });

  it('reads a single Event and a JSON array of events and EventLists, and no deeper array', () => {
    const [a, b, c] = makeEvents(1, 3);
    expect(parseAuditBody(JSON.stringify(a))).toEqual({ ok: true, events: [a], rejects: [] });
    const list = JSON.parse(AuditWebhookClient.body([b!, c!])) as unknown;
    expect(parseAuditBody(JSON.stringify([a, list]))).toEqual({ ok: true, events: [a, b, c], rejects: [] });
    expect(parseAuditBody(JSON.stringify([a, [b, c]]))).toEqual({
      ok: false,
      status: 400,
      error: '[1]: expected an audit Event or an EventList, got a list of 2',
      problems: ['[1]: expected an audit Event or an EventList, got a list of 2'],
    });
  });

  it('brings v1beta1 events (and lists) to v1', () => {
    const line = readFileSync(`${SAMPLES}k8s-events/falco-trace-files/exec_pod.json`, 'utf8').trim();
    const parsed = parseAuditBody(line);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const [event] = parsed.events;
    expect(event).toMatchObject({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', stage: 'ResponseStarted', verb: 'create' });
    expect(event).not.toHaveProperty('metadata');
    expect(event).not.toHaveProperty('timestamp');
  });

  it('adds the cluster annotation and keeps annotations sorted', () => {
    const parsed = parseAuditBody(JSON.stringify(makeEvent(1, { annotations: { z: '1', a: '2' } })), { cluster: 'prod' });
    expect(parsed.ok && Object.entries(parsed.events[0]!.annotations!)).toEqual([
      ['a', '2'],
      ['cluster_name', 'prod'],
      ['z', '1'],
    ]);
  });

  it.each([
    ['not JSON', '{"items": [', /^body is not valid JSON: /],
    ["Falco's malformed trace file", readFileSync(`${SAMPLES}k8s-events/falco-trace-files/fal_01_003.json`, 'utf8'), /^kind: expected "Event" or "EventList", got 0$/],
    ['a bare string', '"hello"', /^body: expected an audit Event or an EventList, got "hello"$/],
    ['a Pod', '{"kind":"Pod","apiVersion":"v1"}', /^kind: expected "Event" or "EventList", got "Pod"$/],
    ['an EventList of another version', '{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[]}', /^apiVersion: expected "audit.k8s.io\/v1", got "audit.k8s.io\/v2"$/],
  ])('refuses %s with a reason', (_what, body, error) => {
    const parsed = parseAuditBody(body);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(error);
  });

  it('keeps the valid events of a body and makes each invalid one a reject with its reason', () => {
    const good = makeEvent(1);
    const bad = { ...makeEvent(2), stageTimestamp: 'later', level: 'None' };
    const parsed = parseAuditBody(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [good, bad] }));
    expect(parsed).toEqual({
      ok: true,
      events: [good],
      rejects: [
        {
          reason: 'invalid audit event: items[1].level: expected one of Metadata, Request, RequestResponse, got "None" (and 1 more)',
          raw: bad,
          ref: 'items[1]',
        },
      ],
    });
  });

  it('makes an event nested deeper than the cap a reject, and walks no deeper than it', () => {
    // Built as text: JSON.stringify of such a value is one of the walks that would overflow.
    const deep = `${'{"d":'.repeat(100_000)}"bottom"${'}'.repeat(100_000)}`;
    const good = makeEvent(1);
    const bad = JSON.stringify({ ...makeEvent(2), requestObject: 'DEEP' }).replace('"DEEP"', deep);
    const text = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${JSON.stringify(good)},${bad}]}`;
    const parsed = parseAuditBody(text);
    expect(parsed.ok && parsed.events).toEqual([good]);
    expect(parsed.ok && parsed.rejects.map((r) => [r.ref, r.reason])).toEqual([
      ['items[1]', 'invalid audit event: items[1].requestObject: nests objects and arrays deeper than 256 levels; no Kubernetes object does'],
    ]);
  });

  it('refuses a body of more events than the cap before checking any, and lists at most 20 problems of a million', () => {
    const bomb = `[${Array(350_000).fill('{}').join(',')}]`;
    expect(parseAuditBody(bomb, { maxEvents: 10_000 })).toMatchObject({ ok: false, status: 413, problems: [] });
    const numbers = `[${Array(1_000_000).fill('0').join(',')}]`;
    const refused = parseAuditBody(numbers);
    expect(refused).toMatchObject({ ok: false, status: 400, error: '1000000 problems, the first: [0]: expected an audit Event or an EventList, got 0' });
    expect(!refused.ok && refused.problems).toHaveLength(20);
  });
});
