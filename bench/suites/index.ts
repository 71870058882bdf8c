import type { Suite } from '../harness.js';
import { rulesSuite } from './rules.js';

/** Every benchmark suite; `npm run bench -- --only NAME` runs one. Each capability adds its own. */
export const suites: Suite[] = [rulesSuite];
