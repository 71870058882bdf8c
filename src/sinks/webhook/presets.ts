// What `preset: falco` and `preset: sysdig` mean (the presets table of src/sinks/webhook/README.md). Pure data and
// functions: the config schema applies them after parsing.

export const WEBHOOK_FORMATS = ['EventList', 'array', 'event', 'ndjson'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];
export type WebhookPreset = 'falco' | 'sysdig';

const KiB = 1024;
const MiB = 1024 * 1024;

export interface WebhookDefaults {
  format: WebhookFormat;
  batchMaxBytes: number;
  maxEventBytes: number;
}

export const GENERIC_DEFAULTS: WebhookDefaults = { format: 'EventList', batchMaxBytes: 10 * MiB, maxEventBytes: 256 * KiB };

export interface PresetSpec {
  /** Used when the URL has no path (or only "/"). */
  path: string;
  /** Used when the URL names no port. */
  port: number;
  defaults: WebhookDefaults;
  /** What the receiver accepts at all: a config beyond it is an error, not a default to override. */
  limits?: {
    formats: readonly WebhookFormat[];
    gzip: boolean;
    maxBodyBytes: number;
    maxEventBytes: number;
  };
  /** The receiver drops events without an auditID or an RFC 3339 stageTimestamp. */
  requiresAuditFields: boolean;
}

export const PRESETS: Record<WebhookPreset, PresetSpec> = {
  // Falco's k8saudit plugin: POST, JSON only (no Content-Encoding is decoded), bodies up to
  // webhookMaxBatchSize (12 MiB), events up to maxEventSize (256 KiB), stageTimestamp required.
  falco: {
    path: '/k8s-audit',
    port: 9765,
    defaults: { format: 'EventList', batchMaxBytes: 12 * MiB, maxEventBytes: 256 * KiB },
    limits: { formats: ['EventList', 'array', 'event'], gzip: false, maxBodyBytes: 12 * MiB, maxEventBytes: 256 * KiB },
    requiresAuditFields: true,
  },
  // The Sysdig agent's audit endpoint, which kube-apiservers also post EventLists to.
  sysdig: {
    path: '/k8s_audit',
    port: 7765,
    defaults: GENERIC_DEFAULTS,
    requiresAuditFields: false,
  },
};

// scheme://[userinfo@]host[:port] — the port as written, since URL drops a port equal to the
// scheme's default and we must not replace a port the user did write.
const AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(:\d*)?([^?#]*)/i;

/** The URL with the preset's port when it names none, and the preset's path when it has none. */
export function presetUrl(raw: string, preset: PresetSpec): string {
  const url = new URL(raw);
  const m = AUTHORITY.exec(raw);
  const hasPort = m?.[2] !== undefined && m[2].length > 1;
  const path = m?.[3] ?? '';
  if (!hasPort) url.port = String(preset.port);
  if (path === '' || path === '/') url.pathname = preset.path;
  return url.toString();
}
