import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { webhookSinkSchema } from '../../../src/sinks/webhook/config.js';
import { ConfigError } from '../../../src/config/errors.js';
import { classifyStatus } from '../../../src/sinks/http/classify.js';
import { Batch, WriteTicket } from '../../../src/sinks/webhook/batch.js';
import { BODY_FORMATS, buildBody, encodeEvent, envelopeBytes } from '../../../src/sinks/webhook/format.js';
import { EncodedEvent } from '../../../src/event/encoded.js';
import { PRESETS, presetUrl } from '../../../src/sinks/webhook/presets.js';
import { fitEvent, truncateEvent } from '../../../src/sinks/webhook/truncate.js';
import { linkSignals, whenAborted } from '../../../src/util/abort.js';
import { makeEvent } from '../../helpers/events.js';

const MiB = 1024 * 1024;

describe('webhook sink config: presets applied after parsing', () => {
  const parse = (extra: Record<string, unknown>) => webhookSinkSchema.parse({ name: 'w', type: 'webhook', url: 'http://receiver.example:8080/in', ...extra });

  it('without a preset: EventList, 10 MiB bodies, 256 KiB events, the URL as written', () => {
    expect(parse({})).toMatchObject({
      url: 'http://receiver.example:8080/in',
      format: 'EventList',
      batchMaxSize: 400,
      batchMaxBytes: 10 * MiB,
      maxEventBytes: 256 * 1024,
      batchMaxWait: 1000,
      requestTimeout: 30_000,
      retry: { initialBackoff: 1000, maxBackoff: 60_000 },
      requireAuditFields: false,
    });
  });

  it('falco: /k8s-audit on 9765 when the URL has neither, 12 MiB bodies, 256 KiB events, audit fields required', () => {
    expect(parse({ preset: 'falco', url: 'http://falco-k8saudit.falco.svc' })).toMatchObject({
      url: 'http://falco-k8saudit.falco.svc:9765/k8s-audit',
      format: 'EventList',
      batchMaxBytes: 12 * MiB,
      maxEventBytes: 256 * 1024,
      requireAuditFields: true,
    });
  });

  it('sysdig: /k8s_audit on 7765', () => {
    expect(parse({ preset: 'sysdig', url: 'http://sysdig-agent.sysdig-agent.svc.cluster.local/' })).toMatchObject({
      url: 'http://sysdig-agent.sysdig-agent.svc.cluster.local:7765/k8s_audit',
      format: 'EventList',
      batchMaxBytes: 10 * MiB,
    });
  });

  it('keeps a port and a path the user wrote, even a port equal to the scheme default', () => {
    expect(presetUrl('http://falco:9000/custom', PRESETS.falco)).toBe('http://falco:9000/custom');
    expect(presetUrl('http://falco:80', PRESETS.falco)).toBe('http://falco/k8s-audit');
    expect(presetUrl('https://user:pw@falco/hook?x=1', PRESETS.falco)).toBe('https://user:pw@falco:9765/hook?x=1');
    expect(presetUrl('http://[::1]', PRESETS.sysdig)).toBe('http://[::1]:7765/k8s_audit');
  });

  it('explicit settings win over the preset within what the receiver accepts', () => {
    expect(parse({ preset: 'falco', format: 'array', batchMaxBytes: '4MiB', maxEventBytes: '100KiB' })).toMatchObject({
      format: 'array',
      batchMaxBytes: 4 * MiB,
      maxEventBytes: 100 * 1024,
    });
  });

  const problems = (sink: string): string[] => {
    try {
      parseConfig(`sources: [{ name: a, type: webhook }]\nsinks: [${sink}]`, 'c.yaml', {});
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };

  it.each([
    [
      '{ name: f, type: webhook, preset: falco, url: "http://f", format: ndjson }',
      'sinks[0].format: got "ndjson"; expected one of EventList, array, event (the falco receiver reads JSON) (line 2)',
    ],
    ['{ name: f, type: webhook, preset: falco, url: "http://f", gzip: true }', 'sinks[0].gzip: got true; expected false (the falco receiver does not decode Content-Encoding) (line 2)'],
    [
      '{ name: f, type: webhook, preset: falco, url: "http://f", batchMaxBytes: 20MiB }',
      'sinks[0].batchMaxBytes: got "20MiB"; expected at most 12MiB (the falco receiver refuses larger bodies) (line 2)',
    ],
    [
      '{ name: f, type: webhook, preset: falco, url: "http://f", maxEventBytes: 1MiB }',
      'sinks[0].maxEventBytes: got "1MiB"; expected at most 256KiB (the falco receiver drops larger events) (line 2)',
    ],
    [
      '{ name: w, type: webhook, url: "http://w", batchMaxBytes: 200KiB }',
      'sinks[0].batchMaxBytes: got "200KiB"; expected at least maxEventBytes (262144) plus 76 bytes of body envelope, so that any event fits a body (line 2)',
    ],
    ['{ name: w, type: webhook, url: "http://w", headers: { Content-Length: "5" } }', 'sinks[0].headers.Content-Length: set by the HTTP client for every request; remove it from headers (line 2)'],
    ['{ name: w, type: webhook, url: "ftp://w" }', 'sinks[0].url: got "ftp://w"; expected a URL starting with http:// or https:// (line 2)'],
  ])('%s', (sink, expected) => {
    expect(problems(sink)).toEqual([expected]);
  });
});

describe('truncation of oversized events', () => {
  it('leaves an event within the cap alone', () => {
    const event = makeEvent(1);
    const fitted = fitEvent(event, 256 * 1024);
    expect(fitted).toMatchObject({ ok: true, truncated: false, event, full: encodeEvent(event) });
  });

  it('drops requestObject and responseObject and adds audit.k8s.io/truncated, keys sorted', () => {
    const event = makeEvent(1, { level: 'RequestResponse', requestObject: { big: 'x'.repeat(5000) }, responseObject: {}, annotations: { zeta: '1', alpha: '2' } });
    const fitted = fitEvent(event, 2048);
    expect(fitted.ok).toBe(true);
    if (!fitted.ok) return;
    expect(fitted.truncated).toBe(true);
    expect(fitted.event).toEqual(truncateEvent(event));
    expect('requestObject' in fitted.event || 'responseObject' in fitted.event).toBe(false);
    expect(Object.entries(fitted.event.annotations!)).toEqual([
      ['alpha', '2'],
      ['audit.k8s.io/truncated', 'true'],
      ['zeta', '1'],
    ]);
    expect(fitted.bytes).toBe(Buffer.byteLength(fitted.full));
    expect(fitted.bytes).toBeLessThanOrEqual(2048);
    expect(event.requestObject).toBeDefined(); // the original is not modified
  });

  it('refuses, with the reason, an event still too big without its objects', () => {
    const event = makeEvent(1, { requestObject: {}, userAgent: 'u'.repeat(4000) });
    const fitted = fitEvent(event, 2048);
    expect(fitted.ok).toBe(false);
    expect(!fitted.ok && fitted.reason).toMatch(/^event of \d+ bytes exceeds maxEventBytes \(2048\) even truncated \(\d+ bytes without request and response objects\)$/);
  });

  it('measures bytes, not characters', () => {
    const event = makeEvent(1, { userAgent: 'é'.repeat(1200) });
    expect(encodeEvent(event).length).toBeLessThan(2048);
    expect(fitEvent(event, 2048).ok).toBe(false);
  });
});

describe('body formats and batches', () => {
  it('an EventList item is the top-level encoding without kind and apiVersion, also for events built in another key order', () => {
    const event = makeEvent(3);
    const item = BODY_FORMATS.EventList.item(encodeEvent(event), Buffer.byteLength(encodeEvent(event)), () => event);
    expect(JSON.parse(item.text)).toEqual((({ kind: _k, apiVersion: _v, ...rest }) => rest)(event));
    expect(item.bytes).toBe(Buffer.byteLength(item.text));
    const { kind, apiVersion, ...rest } = event;
    const reordered = { ...rest, kind, apiVersion };
    const other = BODY_FORMATS.EventList.item(encodeEvent(reordered), Buffer.byteLength(encodeEvent(reordered)), () => reordered);
    expect(JSON.parse(other.text)).not.toHaveProperty('kind');
    expect(other.bytes).toBe(Buffer.byteLength(other.text));
  });

  it('an event encoded elsewhere becomes the same item as a range of its bytes, in every format', () => {
    const event = makeEvent(4, { userAgent: 'kubectl é€😀' });
    const { kind, apiVersion, ...rest } = event;
    // Sharing one buffer with a neighbour, as the events of a worker's job do.
    const shared = Buffer.from(`${encodeEvent(makeEvent(5))}${encodeEvent(event)}`);
    const start = Buffer.byteLength(encodeEvent(makeEvent(5)));
    const encoded = new EncodedEvent(shared, start, shared.length, event.auditID, event.stageTimestamp);
    const reordered = EncodedEvent.fromText(JSON.stringify({ ...rest, kind, apiVersion }), event.auditID, event.stageTimestamp);
    for (const format of Object.values(BODY_FORMATS)) {
      for (const e of [encoded, reordered]) {
        const { item, bytes } = format.encodedItem(e);
        const expected = format.item(e.text, e.byteLength, () => e.event);
        const body = buildBody(format, [item, item].slice(0, Math.min(2, format.maxItems)), 0 + envelopeBytes(format, Math.min(2, format.maxItems)) + bytes * Math.min(2, format.maxItems));
        expect(body.toString()).toBe(format.open + Array(Math.min(2, format.maxItems)).fill(expected.text).join(format.separator) + format.close);
        expect(bytes).toBe(expected.bytes);
      }
    }
    // The EventList item of the apiserver's encoding is a range of the shared bytes, not a copy.
    expect(typeof BODY_FORMATS.EventList.encodedItem(encoded).item).toBe('object');
    expect(typeof BODY_FORMATS.EventList.encodedItem(reordered).item).toBe('string');
  });

  it('refuses to send a body whose size was miscounted', () => {
    expect(() => buildBody(BODY_FORMATS.array, ['{}'], 5)).toThrow(/body is 4 bytes where 5 were counted/);
  });

  it('cuts batches that never pass the byte or count limit and are each as full as the next item allows (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(BODY_FORMATS)),
        // Item sizes in bytes, some with two-byte characters.
        fc.array(fc.tuple(fc.nat(100), fc.nat(250)), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 400, max: 3000 }),
        fc.integer({ min: 1, max: 50 }),
        (format, sizes, maxBytes, maxItems) => {
          const items = sizes.map(([wide, narrow]) => JSON.stringify('é'.repeat(wide) + 'x'.repeat(narrow)));
          const limits = { maxItems: Math.min(maxItems, format.maxItems), maxBytes };
          const owner = new WriteTicket(items.length);
          const batches: Batch[] = [];
          let current = new Batch(format, limits);
          for (const item of items) {
            const bytes = Buffer.byteLength(item);
            if (current.size > 0 && !current.accepts(bytes)) {
              batches.push(current);
              current = new Batch(format, limits);
            }
            current.add(item, bytes, owner);
          }
          batches.push(current);
          batches.forEach((batch, i) => {
            const body = buildBody(format, batch.items, batch.bytes);
            expect(body.toString()).toBe(format.open + (batch.items as string[]).join(format.separator) + format.close);
            expect(batch.size).toBeLessThanOrEqual(limits.maxItems);
            if (batch.size > 1) expect(batch.bytes).toBeLessThanOrEqual(maxBytes);
            const next = batches[i + 1];
            if (next) expect(batch.accepts(Buffer.byteLength(next.items[0] as string))).toBe(false);
          });
          expect(batches.flatMap((b) => b.items)).toEqual(items);
        },
      ),
    );
  });

  it('a write ticket settles when all its events are accounted for, and fails once', async () => {
    const ticket = new WriteTicket(3);
    let settled = false;
    void ticket.done.then(() => (settled = true));
    ticket.settle(2);
    await Promise.resolve();
    expect(settled).toBe(false);
    ticket.settle(1);
    await ticket.done;
    expect(settled).toBe(true);
    const failing = new WriteTicket(2);
    failing.fail(new Error('boom'));
    failing.settle(2);
    await expect(failing.done).rejects.toThrow('boom');
  });
});

describe('HTTP outcome classification', () => {
  it.each([
    [200, 'delivered'],
    [202, 'delivered'],
    [204, 'delivered'],
    [408, 'transient'],
    [429, 'transient'],
    [500, 'transient'],
    [502, 'transient'],
    [503, 'transient'],
    [504, 'transient'],
    [400, 'permanent'],
    [401, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [413, 'permanent'],
    [422, 'permanent'],
    [301, 'permanent'],
    [101, 'permanent'],
  ])('%i is %s', (status, expected) => {
    expect(classifyStatus(status)).toBe(expected);
  });
});

describe('abort helpers', () => {
  it('linkSignals aborts with the first parent reason and detaches when disposed', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals([a.signal, undefined, b.signal]);
    b.abort(new Error('b went'));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe('b went');
    const again = linkSignals([a.signal]);
    again.dispose();
    a.abort();
    expect(again.signal.aborted).toBe(false);
  });

  it('whenAborted shares one listener per signal and forgets callbacks', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const forgets = Array.from({ length: 50 }, (_, i) => whenAborted(controller.signal, () => calls.push(i)));
    forgets.slice(0, 48).forEach((f) => f());
    controller.abort();
    expect(calls).toEqual([48, 49]);
  });
});
