import { z } from 'zod';
import { componentName, duration, filePath } from '../../config/fields.js';

// A kube-apiserver log-backend file (--audit-log-path), rotation-aware.
export const fileSourceSchema = z.strictObject({
  name: componentName,
  type: z.literal('file'),
  path: filePath,
  startFrom: z.enum(['beginning', 'end']).default('end'),
  pollInterval: duration({ min: 100 }).prefault('1s'),
  cluster: z.string().min(1).optional(),
});
export type FileSourceConfig = z.output<typeof fileSourceSchema>;
