import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeOnce, goJSON } from '../../src/event/encode.js';
import { makeEvent } from '../helpers/events.js';

describe('encodeOnce', () => {
  it('encodes an event object once for every sink and retry that asks (events are not changed after normalization)', () => {
    const event = makeEvent(1, { annotations: { a: '<b>' } });
    const first = encodeOnce(event);
    expect(first).toBe(goJSON(event));
    // A later change is not seen: the text was made once, which is what sharing it across sinks relies on.
    (event as { verb: string }).verb = 'changed';
    expect(encodeOnce(event)).toBe(first);
    // Another object, even an equal copy, is its own entry.
    expect(encodeOnce({ ...event })).toBe(goJSON({ ...event }));
  });
});

describe('goJSON', () => {
  const escapes: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

  it('escapes each character Go escapes, wherever it is, alone or among others', () => {
    for (const [c, escaped] of Object.entries(escapes)) {
      expect(goJSON({ a: c })).toBe(`{"a":"${escaped}"}`);
      expect(goJSON([`x${c}`, 'y', `${c}${c}`])).toBe(`["x${escaped}","y","${escaped}${escaped}"]`);
    }
    expect(goJSON('plain')).toBe('"plain"');
    expect(goJSON(undefined)).toBeUndefined();
  });

  it('is JSON.stringify with those characters escaped, for any JSON value', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '"', '\\', '<', '>', '&', '\u2028', '\u2029', 'é', '\u{1f600}', '\n') });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.array(text, { maxLength: 4 }), (value, texts) => {
        const input = { value, texts };
        const expected = JSON.stringify(input).replace(/[<>&\u2028\u2029]/g, (c) => escapes[c]!);
        expect(goJSON(input)).toBe(expected);
        expect(JSON.parse(goJSON(input))).toEqual(JSON.parse(JSON.stringify(input)));
      }),
    );
  });
});
