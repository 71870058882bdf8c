import { z } from 'zod';
import { componentName, filePath } from '../../config/fields.js';

// JSON lines, one Event per line; fsynced before a batch is acknowledged.
export const fileSinkSchema = z.strictObject({
  name: componentName,
  type: z.literal('file'),
  path: filePath,
  scrubSecrets: z.boolean().optional(),
});
export type FileSinkConfig = z.output<typeof fileSinkSchema>;
