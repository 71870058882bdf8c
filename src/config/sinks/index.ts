import { z } from 'zod';
import { fileSinkSchema, stdoutSinkSchema } from './file.js';
import { rulesSinkSchema } from './rules.js';
import { webhookSinkSchema } from './webhook.js';

export const sinkSchema = z.discriminatedUnion('type', [webhookSinkSchema, fileSinkSchema, stdoutSinkSchema, rulesSinkSchema]);
export type SinkConfig = z.output<typeof sinkSchema>;
export type { WebhookSinkConfig } from './webhook.js';
export type { FileSinkConfig, StdoutSinkConfig } from './file.js';
export type { RulesSinkConfig, AlertOutputConfig, Priority } from './rules.js';
