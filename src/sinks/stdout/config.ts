import { z } from 'zod';
import { componentName } from '../../config/fields.js';

// JSON lines on stdout, one Event per line.
export const stdoutSinkSchema = z.strictObject({
  name: componentName,
  type: z.literal('stdout'),
  scrubSecrets: z.boolean().optional(),
});
export type StdoutSinkConfig = z.output<typeof stdoutSinkSchema>;
