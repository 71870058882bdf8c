import { describe, expect, it } from 'vitest';
import { parseFaults } from '../../../src/sources/eks/emulator/faults.js';

describe('EKS emulator fault spec', () => {
  it('parses the comma list', () => {
    expect(parseFaults('throttle-every=3, page-size=2,empty-every=4,late-every=5,late-ms=90000,error-every=7,error-status=503,denied-every=1')).toMatchObject({
      throttleEvery: 3,
      pageSize: 2,
      emptyEvery: 4,
      lateEvery: 5,
      lateMs: 90_000,
      errorEvery: 7,
      errorStatus: 503,
      deniedEvery: 1,
    });
  });
  it.each(['throttle-every=0', 'page-size=x', 'nonsense=1', 'error-status=200', 'denied-every=0'])('refuses %s', (spec) => {
    expect(() => parseFaults(spec)).toThrow();
  });
});
