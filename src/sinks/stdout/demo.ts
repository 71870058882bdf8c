import type { DemoPartFactory } from '../../component/demo.js';

/** Every delivered event as a JSON line on stdout. */
export const stdoutPart: DemoPartFactory = async () => ({
  name: 'stdout',
  sinks: [{ name: 'stdout', type: 'stdout' }],
});
