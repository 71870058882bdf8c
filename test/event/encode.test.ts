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
