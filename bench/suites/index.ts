import type { Suite } from '../harness.js';
import { processSuite } from './process.js';
import { gkeSuite } from './gke.js';
import { eksSuite } from './eks.js';
import { aksSuite } from './aks.js';
import { rulesSuite } from './rules.js';
import { webhookSinkSuite } from './webhook-sink.js';

/** Every benchmark suite; `npm run bench -- --only NAME` runs one. Each capability adds its own. */
export const suites: Suite[] = [webhookSinkSuite, rulesSuite, processSuite, gkeSuite, eksSuite, aksSuite];
