import { fileURLToPath } from 'node:url';
import type { DemoPartFactory } from '../../component/demo.js';

/** The shipped rule library (works from src/ under the test runner and from dist/). */
export const LIBRARY_PATH = fileURLToPath(new URL('../../../config/rules/library.yaml', import.meta.url));

/**
 * The rule engine: the whole library enabled, alerts on stdout as JSON lines. They share stdout
 * with the stdout part's events and are told apart by Falco's alert fields (rule, priority).
 */
export const rulesPart: DemoPartFactory = async () => ({
  name: 'rules',
  sinks: [{ name: 'detections', type: 'rules', rules: [LIBRARY_PATH], enable: ['all'], alerts: [{ type: 'stdout' }] }],
});
