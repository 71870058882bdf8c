import { z } from 'zod';
import { filePath, positiveInt } from '../config/fields.js';

// The `process` section: the stages between dedupe and the sinks (src/process/README.md).
export const processSchema = z.strictObject({
  /** A client-side audit.k8s.io/v1 Policy file, applied with the kube-apiserver's semantics. */
  policy: filePath.optional(),
  /** Replace Secret data/stringData values in request and response objects. */
  scrubSecrets: z.boolean().default(true),
  /**
   * Extra jpath paths whose values are scrubbed too: a path, or {path (one or a list), keys (a
   * case-insensitive regular expression: only the matching keys of the map there), when (a jpath
   * condition on the event)}.
   */
  scrubPaths: z
    .array(
      z.union([
        z.string().min(1),
        z.strictObject({
          path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
          keys: z.string().min(1).optional(),
          when: z.string().min(1).optional(),
        }),
      ], { error: 'a jpath path, or a mapping {path, keys, when}' }),
    )
    .default([]),
  /** Events matching any of these jpath conditions are dropped. */
  drop: z.array(z.string().min(1)).default([]),
  /** When not empty, only events matching one of these jpath conditions are kept. */
  keep: z.array(z.string().min(1)).default([]),
  dedupe: z
    .strictObject({
      /** (auditID, stage) keys remembered per source; kept with the checkpoint. */
      maxKeys: positiveInt('a whole number of keys, at least 1').default(500_000),
    })
    .prefault({}),
});
export type ProcessConfig = z.output<typeof processSchema>;
