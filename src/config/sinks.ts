import { z } from 'zod';
import { fileSinkSchema, stdoutSinkSchema } from '../sinks/file/config.js';
import { rulesSinkSchema } from '../sinks/rules/config.js';
import { webhookSinkSchema } from '../sinks/webhook/config.js';

export const sinkSchema = z.discriminatedUnion('type', [webhookSinkSchema, fileSinkSchema, stdoutSinkSchema, rulesSinkSchema]);
export type SinkConfig = z.output<typeof sinkSchema>;
export type { WebhookSinkConfig } from '../sinks/webhook/config.js';
export type { FileSinkConfig, StdoutSinkConfig } from '../sinks/file/config.js';
export type { RulesSinkConfig, AlertOutputConfig, Priority } from '../sinks/rules/config.js';
