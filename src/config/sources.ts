import { z } from 'zod';
import { aksSourceSchema } from '../sources/aks/config.js';
import { eksSourceSchema } from '../sources/eks/config.js';
import { fileSourceSchema } from '../sources/file/config.js';
import { gkeSourceSchema } from '../sources/gke/config.js';
import { webhookSourceSchema } from '../sources/webhook/config.js';

export const sourceSchema = z.discriminatedUnion('type', [
  gkeSourceSchema,
  eksSourceSchema,
  aksSourceSchema,
  webhookSourceSchema,
  fileSourceSchema,
]);
export type SourceConfig = z.output<typeof sourceSchema>;
export type SourceType = SourceConfig['type'];
export type { GkeSourceConfig } from '../sources/gke/config.js';
export type { EksSourceConfig } from '../sources/eks/config.js';
export type { AksSourceConfig } from '../sources/aks/config.js';
export type { WebhookSourceConfig } from '../sources/webhook/config.js';
export type { FileSourceConfig } from '../sources/file/config.js';
