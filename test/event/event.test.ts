import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  asTopLevelEvent,
  canonicalMicroTime,
  formatMicroTime,
  isRfc3339,
  parseMicroTime,
  validateEvent,
} from '../../src/event/event.js';
import { goJSON } from '../../src/event/encode.js';
import { SAMPLES, makeEvent } from '../helpers/events.js';

describe('validateEvent', () => {
  it('accepts a complete v1 event', () => {
    expect(validateEvent(makeEvent(1))).toEqual([]);
  });

  it('accepts an EventList item without kind and apiVersion', () => {
    const { kind: _k, apiVersion: _v, ...item } = makeEvent(1);
    expect(validateEvent(item)).toEqual([]);
  });

  it('reports every missing required field at once', () => {
    const problems = validateEvent({ kind: 'Event' }).map((p) => p.path);
    expect(problems).toEqual(['level', 'auditID', 'stage', 'requestURI', 'verb', 'user', 'requestReceivedTimestamp', 'stageTimestamp']);
  });

  it.each([
    ['level', 'None', 'level: expected one of Metadata, Request, RequestResponse, got "None"'],
    ['stage', 'Done', 'stage: expected one of RequestReceived, ResponseStarted, ResponseComplete, Panic, got "Done"'],
    ['auditID', '', 'auditID: expected a non-empty string, got ""'],
    ['stageTimestamp', '2019-01-01 10:00:00', 'stageTimestamp: expected an RFC 3339 time such as 2026-01-02T15:04:05.000000Z, got "2019-01-01 10:00:00"'],
    ['apiVersion', 'audit.k8s.io/v1beta1', 'apiVersion: expected "audit.k8s.io/v1", got "audit.k8s.io/v1beta1"'],
    ['sourceIPs', '1.2.3.4', 'sourceIPs: expected a list of strings, got "1.2.3.4"'],
    ['responseStatus', { code: 'x' }, 'responseStatus.code: expected an integer, got "x"'],
    ['annotations', { a: 1 }, 'annotations.a: expected a string, got 1'],
    ['user', { groups: 'a' }, 'user.groups: expected a list of strings, got "a"'],
  ])('rejects a bad %s', (field, value, message) => {
    const problems = validateEvent({ ...makeEvent(1), [field]: value });
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([message]);
  });

  it('prefixes paths for list items', () => {
    expect(validateEvent({ ...makeEvent(1), verb: 3 }, 'items[4]')[0]?.path).toBe('items[4].verb');
  });

  it('accepts every native sample event (Falco trace files, normalized to v1 shape)', () => {
    const dir = `${SAMPLES}k8s-events/falco-trace-files/`;
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => f !== 'fal_01_003.json')) {
      for (const line of readFileSync(dir + file, 'utf8').split('\n').filter(Boolean)) {
        const event = asTopLevelEvent(JSON.parse(line) as Record<string, unknown>);
        expect(validateEvent(event), file).toEqual([]);
        checked++;
      }
    }
    expect(checked).toBe(35);
  });
});

describe('timestamps', () => {
  it.each([
    ['2026-01-02T15:04:05Z', true],
    ['2026-01-02T15:04:05.123456Z', true],
    ['2026-01-02T15:04:05.1234567+02:00', true],
    ['2026-01-02 15:04:05Z', false],
    ['2026-13-02T15:04:05Z', false],
    ['2026-01-02T15:04:05', false],
    ['yesterday', false],
  ])('isRfc3339(%s) = %s', (text, ok) => {
    expect(isRfc3339(text)).toBe(ok);
  });

  it('keeps microseconds that a JS Date would lose', () => {
    const micros = parseMicroTime('2020-05-05T16:16:37.6559127Z')!;
    expect(formatMicroTime(micros)).toBe('2020-05-05T16:16:37.655912Z');
  });

  it('folds offsets to UTC and pads fractions to six digits', () => {
    expect(canonicalMicroTime('2026-01-02T01:00:00.5+02:00')).toBe('2026-01-01T23:00:00.500000Z');
    expect(canonicalMicroTime('1969-12-31T23:59:59.999999Z')).toBe('1969-12-31T23:59:59.999999Z');
  });
});

describe('asTopLevelEvent', () => {
  it('orders fields as the apiserver does and drops v1beta1-only fields', () => {
    const event = asTopLevelEvent({
      verb: 'get',
      auditID: 'a',
      timestamp: '2019-01-01T00:00:00Z',
      metadata: { creationTimestamp: '2019-01-01T00:00:00Z' },
      level: 'Metadata',
      apiVersion: 'audit.k8s.io/v1beta1',
      kind: 'Event',
      futureField: 1,
    });
    expect(Object.keys(event)).toEqual(['kind', 'apiVersion', 'level', 'auditID', 'verb', 'futureField']);
    expect(event.apiVersion).toBe('audit.k8s.io/v1');
  });
});

describe('goJSON', () => {
  it('escapes <, > and & as Go does', () => {
    expect(goJSON({ requestURI: '/apis?limit=500&watch=<true>' })).toBe('{"requestURI":"/apis?limit=500\\u0026watch=\\u003ctrue\\u003e"}');
  });
});
