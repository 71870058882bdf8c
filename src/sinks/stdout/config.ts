import { z } from 'zod';
import { componentName } from '../../config/fields.js';
import { OUTPUT_FORMATS } from './format.js';

/** json: one JSON line each, for programs (the default); text: one readable line each, for a person. */
export const outputFormat = z.enum(OUTPUT_FORMATS).default('json');

// Events on stdout, one per line: JSON lines, or readable text (src/sinks/stdout/README.md).
export const stdoutSinkSchema = z.strictObject({
  name: componentName,
  type: z.literal('stdout'),
  format: outputFormat,
  scrubSecrets: z.boolean().optional(),
});
export type StdoutSinkConfig = z.output<typeof stdoutSinkSchema>;
