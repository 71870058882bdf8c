import type { DemoPartFactory } from '../../component/demo.js';

/**
 * Every delivered event on stdout, one line each. The part leaves the format at the sink's
 * default (JSON lines); the demo command sets it, text unless --json (src/demo/demo.ts).
 */
export const stdoutPart: DemoPartFactory = async () => ({
  name: 'stdout',
  sinks: [{ name: 'stdout', type: 'stdout' }],
});
