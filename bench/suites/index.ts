import type { Suite } from '../harness.js';
import { ceilingSuite } from './ceiling.js';
import { cpuPipelineSuite } from './cpu-pipeline.js';
import { endToEndSuite } from './end-to-end.js';
import { gkeSuite } from './gke.js';
import { latencySuite } from './latency.js';
import { processSuite } from './process.js';
import { rulesSuite } from './rules.js';
import { webhookSinkSuite } from './webhook-sink.js';

/** Every benchmark suite; `npm run bench -- --only NAME` runs one. Each capability adds its own. */
export const suites: Suite[] = [ceilingSuite, cpuPipelineSuite, webhookSinkSuite, rulesSuite, processSuite, gkeSuite, endToEndSuite, latencySuite];
