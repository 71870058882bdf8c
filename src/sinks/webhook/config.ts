import { z } from 'zod';
import { formatBytes } from '../../util/bytes.js';
import { MAX_SINGLE_ENVELOPE } from './format.js';
import { GENERIC_DEFAULTS, PRESETS, WEBHOOK_FORMATS, presetUrl } from './presets.js';
import { byteSize, componentName, duration, httpUrl, positiveInt } from '../../config/fields.js';
import { checkHttpClient, httpClientFields } from '../http/config.js';

// POSTs events to any HTTP endpoint (src/sinks/webhook/README.md). Batching names follow the kube-apiserver's
// --audit-webhook-batch-* flags.
const webhookSinkInput = z
  .strictObject({
    name: componentName,
    type: z.literal('webhook'),
    url: httpUrl(),
    /** falco: /k8s-audit on 9765 with Falco's limits; sysdig: /k8s_audit on 7765. */
    preset: z.enum(['falco', 'sysdig']).optional(),
    /** Default EventList (the kube-apiserver's body). */
    format: z.enum(WEBHOOK_FORMATS).optional(),
    gzip: z.boolean().default(false),
    batchMaxSize: positiveInt('a whole number of events, at least 1').default(400),
    /** Default 10 MiB (falco: 12 MiB); no body is larger, envelope included. */
    batchMaxBytes: byteSize({ min: 1024 }).optional(),
    batchMaxWait: duration().prefault('1s'),
    /** Default 256 KiB; a larger event loses its request and response objects. */
    maxEventBytes: byteSize({ min: 1024 }).optional(),
    maxConcurrentRequests: positiveInt('a whole number of requests, at least 1').default(4),
    /** A sink failing for longer than this makes /readyz fail. */
    failureThreshold: duration({ min: 1000 }).prefault('5m'),
    /** Per-sink override of process.scrubSecrets. */
    scrubSecrets: z.boolean().optional(),
    ...httpClientFields,
  })
  .superRefine(checkHttpClient)
  .superRefine((value, ctx) => {
    const preset = value.preset === undefined ? undefined : PRESETS[value.preset];
    const limits = preset?.limits;
    const receiver = `the ${value.preset} receiver`;
    if (limits && value.format !== undefined && !limits.formats.includes(value.format)) {
      ctx.addIssue({ code: 'custom', path: ['format'], message: `one of ${limits.formats.join(', ')} (${receiver} reads JSON)` });
    }
    if (limits && value.gzip && !limits.gzip) {
      ctx.addIssue({ code: 'custom', path: ['gzip'], message: `false (${receiver} does not decode Content-Encoding)` });
    }
    if (limits && value.batchMaxBytes !== undefined && value.batchMaxBytes > limits.maxBodyBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchMaxBytes'],
        message: `at most ${formatBytes(limits.maxBodyBytes)} (${receiver} refuses larger bodies)`,
      });
    }
    if (limits && value.maxEventBytes !== undefined && value.maxEventBytes > limits.maxEventBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEventBytes'],
        message: `at most ${formatBytes(limits.maxEventBytes)} (${receiver} drops larger events)`,
      });
    }
    const defaults = preset?.defaults ?? GENERIC_DEFAULTS;
    const body = value.batchMaxBytes ?? defaults.batchMaxBytes;
    const event = value.maxEventBytes ?? defaults.maxEventBytes;
    if (event > body - MAX_SINGLE_ENVELOPE) {
      const onEvent = value.maxEventBytes !== undefined;
      ctx.addIssue({
        code: 'custom',
        path: [onEvent ? 'maxEventBytes' : 'batchMaxBytes'],
        message: onEvent
          ? `at most batchMaxBytes (${body}) minus ${MAX_SINGLE_ENVELOPE} bytes of body envelope, so that any event fits a body`
          : `at least maxEventBytes (${event}) plus ${MAX_SINGLE_ENVELOPE} bytes of body envelope, so that any event fits a body`,
      });
    }
  });

/**
 * The parsed sink with the preset applied: explicit settings win, the preset fills the rest
 * (URL port and path, format, size caps), and the generic defaults fill what is still open.
 */
export const webhookSinkSchema = webhookSinkInput.transform((value) => {
  const preset = value.preset === undefined ? undefined : PRESETS[value.preset];
  const defaults = preset?.defaults ?? GENERIC_DEFAULTS;
  return {
    ...value,
    url: preset ? presetUrl(value.url, preset) : value.url,
    format: value.format ?? defaults.format,
    batchMaxBytes: value.batchMaxBytes ?? defaults.batchMaxBytes,
    maxEventBytes: value.maxEventBytes ?? defaults.maxEventBytes,
    /** Events without auditID or an RFC 3339 stageTimestamp go to the dead-letter file instead. */
    requireAuditFields: preset?.requiresAuditFields ?? false,
  };
});
export type WebhookSinkConfig = z.output<typeof webhookSinkSchema>;
