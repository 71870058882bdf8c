import type { DemoPartFactory } from '../part.js';

/** Every delivered event as a JSON line on stdout. */
export const stdoutPart: DemoPartFactory = async () => ({
  name: 'stdout',
  sinks: [{ name: 'stdout', type: 'stdout' }],
});
