import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAuditBody } from '../../src/providers/webhook/parse.js';
import { AuditWebhookClient } from '../../src/demo/apiserver-client.js';
import { SAMPLES, makeEvent, makeEvents } from '../helpers/events.js';

describe('parseAuditBody', () => {
  it('reads an EventList as the kube-apiserver sends it (items without kind/apiVersion)', () => {
    const events = makeEvents(1, 3);
    const parsed = parseAuditBody(AuditWebhookClient.body(events));
    expect(parsed).toEqual({ ok: true, events });
  });

  it('reads a single Event and a JSON array (nested arrays too)', () => {
    const [a, b, c] = makeEvents(1, 3);
    expect(parseAuditBody(JSON.stringify(a))).toEqual({ ok: true, events: [a] });
    expect(parseAuditBody(JSON.stringify([a, [b, c]]))).toEqual({ ok: true, events: [a, b, c] });
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
    ['a bare string', '"hello"', /^body: expected an audit Event, an EventList or a JSON array of them, got "hello"$/],
    ['a Pod', '{"kind":"Pod","apiVersion":"v1"}', /^kind: expected "Event" or "EventList", got "Pod"$/],
    ['an EventList of another version', '{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[]}', /^apiVersion: expected "audit.k8s.io\/v1", got "audit.k8s.io\/v2"$/],
  ])('refuses %s with a reason', (_what, body, error) => {
    const parsed = parseAuditBody(body);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(error);
  });

  it('refuses the whole body when any item is invalid, listing every problem', () => {
    const good = makeEvent(1);
    const bad = { ...makeEvent(2), stageTimestamp: 'later', level: 'None' };
    const parsed = parseAuditBody(JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [good, bad] }));
    expect(parsed).toEqual({
      ok: false,
      error: 'invalid audit events (2 problems): items[1].level: expected one of Metadata, Request, RequestResponse, got "None"',
      problems: [
        'items[1].level: expected one of Metadata, Request, RequestResponse, got "None"',
        'items[1].stageTimestamp: expected an RFC 3339 time such as 2026-01-02T15:04:05.000000Z, got "later"',
      ],
    });
  });
});
