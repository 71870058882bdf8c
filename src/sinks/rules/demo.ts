import { fileURLToPath } from 'node:url';
import type { DemoPartFactory } from '../../component/demo.js';

/** The shipped rule library (works from src/ under the test runner and from dist/). */
export const LIBRARY_PATH = fileURLToPath(new URL('../../../config/rules/library.yaml', import.meta.url));

/**
 * The rule engine: the whole library enabled, alerts on stdout in the format the demo command
 * sets (src/demo/demo.ts): Falco's text line ("<time>: <Priority> <message>") by default, Falco's
 * JSON alert with --json. They share stdout with the stdout part's events; as text an alert line
 * starts with a time of day and a priority, an event line with a date; as JSON lines alerts have
 * Falco's alert fields (rule, priority).
 */
export const rulesPart: DemoPartFactory = async () => ({
  name: 'rules',
  sinks: [{ name: 'detections', type: 'rules', rules: [LIBRARY_PATH], enable: ['all'], alerts: [{ type: 'stdout' }] }],
});
