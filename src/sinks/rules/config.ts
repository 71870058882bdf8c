import { z } from 'zod';
import { parsePriority, PRIORITIES, PRIORITY_HINT, type Priority } from '../../rules/priority.js';
import { componentName, httpUrl } from '../../config/fields.js';
import { checkHttpClient, httpClientFields } from '../http/config.js';
import { outputFormat } from '../stdout/config.js';

export { PRIORITIES };
export type { Priority };

/** Only alerts at least this severe go to the output; any case, info = informational. */
const minPriority = z
  .string({ error: PRIORITY_HINT })
  .transform((text, ctx): Priority => {
    const priority = parsePriority(text);
    if (priority === undefined) {
      ctx.addIssue({ code: 'custom', message: PRIORITY_HINT });
      return z.NEVER;
    }
    return priority;
  })
  .optional();

/** format json: Falco's JSON alert per line; text: Falco's text line ("<time>: <Priority> <message>"). */
const stdoutAlertSchema = z.strictObject({ type: z.literal('stdout'), minPriority, format: outputFormat });
const webhookAlertSchema = z
  .strictObject({ type: z.literal('webhook'), url: httpUrl(), minPriority, ...httpClientFields })
  .superRefine(checkHttpClient);
const slackAlertSchema = z.strictObject({
  type: z.literal('slack'),
  /** The incoming webhook URL (a secret: prefer ${SLACK_WEBHOOK_URL}). */
  url: httpUrl(),
  channel: z.string().optional(),
  username: z.string().optional(),
  minPriority,
  caFile: httpClientFields.caFile,
  requestTimeout: httpClientFields.requestTimeout,
  retry: httpClientFields.retry,
});

export const alertOutputSchema = z.discriminatedUnion('type', [stdoutAlertSchema, webhookAlertSchema, slackAlertSchema]);
export type AlertOutputConfig = z.output<typeof alertOutputSchema>;

// Evaluates rule files on every event and sends alerts to the outputs (src/sinks/rules/README.md).
export const rulesSinkSchema = z.strictObject({
  name: componentName,
  type: z.literal('rules'),
  /** Rule files or globs, loaded in order; a later rule of the same name overrides an earlier one. */
  rules: z.array(z.string().min(1)).min(1, { message: 'at least one rule file or glob' }),
  /** Rules shipped disabled that this sink turns on: "all", a rule name, or "tag:TAG". */
  enable: z.array(z.string().min(1)).default([]),
  matching: z.enum(['first', 'all']).default('first'),
  alerts: z.array(alertOutputSchema).min(1, { message: 'at least one alert output' }).prefault([{ type: 'stdout' }]),
  scrubSecrets: z.boolean().optional(),
});
export type RulesSinkConfig = z.output<typeof rulesSinkSchema>;
