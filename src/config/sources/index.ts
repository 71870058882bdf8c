import { z } from 'zod';
import { aksSourceSchema } from './aks.js';
import { eksSourceSchema } from './eks.js';
import { fileSourceSchema } from './file.js';
import { gkeSourceSchema } from './gke.js';
import { webhookSourceSchema } from './webhook.js';

export const sourceSchema = z.discriminatedUnion('type', [
  gkeSourceSchema,
  eksSourceSchema,
  aksSourceSchema,
  webhookSourceSchema,
  fileSourceSchema,
]);
export type SourceConfig = z.output<typeof sourceSchema>;
export type SourceType = SourceConfig['type'];
export type { GkeSourceConfig } from './gke.js';
export type { EksSourceConfig } from './eks.js';
export type { AksSourceConfig } from './aks.js';
export type { WebhookSourceConfig } from './webhook.js';
export type { FileSourceConfig } from './file.js';
