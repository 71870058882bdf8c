// No Secret value survives scrubbing, whatever shape carries it: a Secret (with or without kind),
// a SecretList, a List or Table holding Secrets, a merge or apply patch, a JSON patch, with the
// values in data, stringData and kubectl's last-applied-configuration annotation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, SCRUBBED_ANNOTATION, scrubEvent } from '../../src/process/scrub.js';
import { MARK, eventOf, shapes, withKind, type Secret } from '../helpers/secret-shapes.js';

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
