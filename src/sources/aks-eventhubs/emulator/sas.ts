// Shared access signatures as Event Hubs checks them: "SharedAccessSignature sr=<url-encoded
// resource>&sig=<url-encoded base64 HMAC-SHA256>&se=<expiry, epoch s>&skn=<key name>", where the
// signed string is "<url-encoded resource>\n<expiry>" and the HMAC key is the key text itself.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SasClaim {
  /** The resource URI the token is valid for (decoded), e.g. sb://127.0.0.1:5672/hub. */
  resource: string;
  keyName: string;
  /** Expiry, epoch milliseconds. */
  expiresAtMs: number;
}

export type SasCheck = { ok: true; claim: SasClaim } | { ok: false; reason: string };

/** Signs as @azure/core-amqp's SAS token provider does, so tests can hand the SDK a ready signature. */
export function createSasToken(resource: string, keyName: string, key: string, expirySeconds: number): string {
  const sr = encodeURIComponent(resource);
  const sig = createHmac('sha256', key).update(`${sr}\n${expirySeconds}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expirySeconds}&skn=${encodeURIComponent(keyName)}`;
}

/** Checks a token against the namespace's keys; `keys` maps key name → key. */
export function checkSasToken(token: unknown, keys: ReadonlyMap<string, string>, nowMs: number): SasCheck {
  if (typeof token !== 'string' || !token.startsWith('SharedAccessSignature ')) {
    return { ok: false, reason: 'InvalidToken: not a SharedAccessSignature' };
  }
  const fields = new Map<string, string>();
  for (const pair of token.slice('SharedAccessSignature '.length).split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (sr === undefined || sig === undefined || se === undefined || skn === undefined) {
    return { ok: false, reason: 'InvalidToken: sr, sig, se and skn are required' };
  }
  let keyName: string;
  let signature: Buffer;
  try {
    keyName = decodeURIComponent(skn);
    signature = Buffer.from(decodeURIComponent(sig), 'base64');
  } catch {
    return { ok: false, reason: 'InvalidToken: bad URL encoding' };
  }
  const key = keys.get(keyName);
  if (key === undefined) return { ok: false, reason: `InvalidSignature: unknown key name ${JSON.stringify(keyName)}` };
  const expected = createHmac('sha256', key).update(`${sr}\n${se}`).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    return { ok: false, reason: 'InvalidSignature: The token has an invalid signature.' };
  }
  const expirySeconds = Number(se);
  if (!Number.isInteger(expirySeconds) || expirySeconds * 1000 <= nowMs) {
    return { ok: false, reason: 'ExpiredToken: The token is expired.' };
  }
  let resource: string;
  try {
    resource = decodeURIComponent(sr);
  } catch {
    return { ok: false, reason: 'InvalidToken: bad URL encoding of sr' };
  }
  return { ok: true, claim: { resource, keyName, expiresAtMs: expirySeconds * 1000 } };
}

/** The path of a resource URI without scheme and host, lower-cased, no slashes at either end. */
export function resourcePath(uri: string): string {
  const withoutScheme = uri.replace(/^[a-z]+:\/\/[^/]*/i, '');
  return withoutScheme.replace(/^\/+|\/+$/g, '').toLowerCase();
}

/**
 * Whether a token scoped to `scope` (a URI) covers `target` (a URI or an entity path): the
 * service accepts a token for any prefix of the entity's path, segment by segment.
 */
export function scopeCovers(scope: string, target: string): boolean {
  const s = resourcePath(scope);
  const t = resourcePath(target);
  return s === '' || t === s || t.startsWith(`${s}/`);
}
