import type { Suite } from '../harness.js';
import { aksSuite } from './aks.js';
import { aksEventHubsSuite } from './aks-eventhubs.js';
import { backlogSuite } from './backlog.js';
import { ceilingSuite } from './ceiling.js';
import { cpuPipelineSuite } from './cpu-pipeline.js';
import { dedupeSuite } from './dedupe.js';
import { eksSuite } from './eks.js';
import { falcoSuite } from './falco.js';
import { endToEndSuite } from './end-to-end.js';
import { gkeSuite } from './gke.js';
import { gkePubsubSuite } from './gke-pubsub.js';
import { hostileSuite } from './hostile.js';
import { latencySuite } from './latency.js';
import { normalizersSuite } from './normalizers.js';
import { processSuite } from './process.js';
import { rulesSuite } from './rules.js';
import { webhookSinkSuite } from './webhook-sink.js';

/**
 * Every benchmark suite, in the order the figures are listed; `npm run bench -- --only NAME`
 * runs one. The ceiling (a) is measured once per run and every suite's ratio is to it or to its own
 * baseline on the same bytes.
 */
export const suites: Suite[] = [
  ceilingSuite,
  normalizersSuite,
  gkeSuite,
  gkePubsubSuite,
  eksSuite,
  aksSuite,
  aksEventHubsSuite,
  cpuPipelineSuite,
  dedupeSuite,
  processSuite,
  rulesSuite,
  falcoSuite,
  webhookSinkSuite,
  endToEndSuite,
  backlogSuite,
  latencySuite,
  hostileSuite,
];
