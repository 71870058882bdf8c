// Secret scrubbing: audit bodies carry Secret values (a create or update at Request level, every
// get or list at RequestResponse). Before an event reaches a sink that scrubs (the default), the
// values of Secret `data` and `stringData` in request and response objects become "<redacted>",
// in every shape the apiserver logs them: a Secret, a SecretList or any list or table holding
// Secrets, and a patch of a Secret (merge, strategic merge, apply or JSON patch). Keys are kept:
// which keys changed is what detections look at. kubectl's last-applied-configuration annotation,
// which holds the whole Secret as JSON, and the bearer tokens of TokenReview and TokenRequest
// bodies are redacted too. Extra paths (for example ConfigMap keys that look like passwords) are
// configured as jpath paths. The input is never modified: a changed event is a new object that
// shares what did not change, so sinks that scrub and sinks that do not can share one batch.
import { isPlainObject, withAnnotations, type AuditEvent } from '../event/event.js';
import { compileJpath } from '../rules/jpath/compile.js';
import { JpathError } from '../rules/jpath/errors.js';
import { parsePath, PathError, type PathSegment } from '../rules/path.js';
import type { Predicate } from '../rules/predicate.js';

export const REDACTED = '<redacted>';
/** Set on every event the scrubber changed; its value lists the top-level fields it changed. */
export const SCRUBBED_ANNOTATION = 'kube-audit-bridge.io/scrubbed';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** One configured extra path (process.scrubPaths). */
export interface ScrubPathConfig {
  path: string | string[];
  /** A regular expression (case-insensitive): only the keys of the map at `path` that match are redacted. */
  keys?: string;
  /** A jpath condition: only events it matches are scrubbed at this path. */
  when?: string;
}

export interface ScrubRule {
  segments: readonly PathSegment[];
  keys: RegExp | undefined;
  when: Predicate | undefined;
  /** What replaces the value at the path: made once here, not per event. */
  leaf: (value: unknown) => unknown;
}

export interface ScrubOptions {
  /** Secret data/stringData, last-applied-configuration and token bodies. */
  secrets: boolean;
  paths: readonly ScrubRule[];
}

/** Compiles process.scrubPaths; every problem names its entry (`[1].keys: …`). */
export function compileScrubPaths(entries: readonly (string | ScrubPathConfig)[]): { rules: ScrubRule[]; problems: string[] } {
  const rules: ScrubRule[] = [];
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const spec: ScrubPathConfig = typeof entry === 'string' ? { path: entry } : entry;
    const at = typeof entry === 'string' ? `[${i}]` : `[${i}].path`;
    let keys: RegExp | undefined;
    let when: Predicate | undefined;
    let ok = true;
    if (spec.keys !== undefined) {
      try {
        keys = new RegExp(spec.keys, 'i');
      } catch (err) {
        ok = false;
        problems.push(`[${i}].keys: got ${JSON.stringify(spec.keys)}; expected a regular expression (${(err as Error).message})`);
      }
    }
    if (spec.when !== undefined) {
      try {
        when = compileJpath(spec.when);
      } catch (err) {
        if (!(err instanceof JpathError)) throw err;
        ok = false;
        problems.push(`[${i}].when: ${err.message}`);
      }
    }
    const paths = Array.isArray(spec.path) ? spec.path : [spec.path];
    paths.forEach((text, j) => {
      try {
        const segments = parsePath(text);
        if (ok) rules.push({ segments, keys, when, leaf: keys ? redactKeys(keys) : redactValue });
      } catch (err) {
        if (!(err instanceof PathError)) throw err;
        problems.push(`${Array.isArray(spec.path) ? `${at}[${j}]` : at}: got ${JSON.stringify(text)}; expected a jpath path (${err.message} at offset ${err.offset})`);
      }
    });
  });
  return { rules, problems };
}

/** The event with secret values redacted and the annotation set; the same object when nothing was found. */
export function scrubEvent(event: AuditEvent, options: ScrubOptions): AuditEvent {
  let out = event;
  const touched: string[] = [];
  if (options.secrets && (event.requestObject !== undefined || event.responseObject !== undefined)) {
    const scope = secretScope(event);
    for (const field of ['requestObject', 'responseObject'] as const) {
      const body = event[field];
      if (body === undefined) continue;
      const next = scrubBody(body, scope);
      if (next === body) continue;
      // Assigning an existing key keeps its place in the key order (and so the encoded order).
      if (out === event) out = { ...event };
      out[field] = next;
      touched.push(field);
    }
  }
  for (const rule of options.paths) {
    if (rule.when && !rule.when(out)) continue;
    const next = rewriteAt(out, rule.segments, 0, rule.leaf) as AuditEvent;
    if (next !== out) {
      out = next;
      touched.push(rule.segments[0]!.key);
    }
  }
  if (out === event) return event;
  const previous = event.annotations?.[SCRUBBED_ANNOTATION];
  const fields = new Set([...(previous ? previous.split(',') : []), ...touched]);
  return withAnnotations(out, { [SCRUBBED_ANNOTATION]: [...fields].sort().join(',') });
}

/** Scrubs a batch; returns the events and how many were changed. */
export function scrubAll(events: readonly AuditEvent[], options: ScrubOptions): { events: AuditEvent[]; scrubbed: number } {
  let scrubbed = 0;
  const out = events.map((event) => {
    const next = scrubEvent(event, options);
    if (next !== event) scrubbed++;
    return next;
  });
  return { events: out, scrubbed };
}

type Scope = 'secret' | 'tokenreview' | 'tokenrequest' | undefined;

/** What the request was about, from objectRef: bodies may come without a kind (a create may omit it; a patch has none). */
function secretScope(event: AuditEvent): Scope {
  const ref = event.objectRef;
  if (!ref) return undefined;
  const core = ref.apiGroup === undefined || ref.apiGroup === '' || ref.apiGroup === 'core';
  if (core && ref.resource === 'secrets') return 'secret';
  if (core && ref.resource === 'serviceaccounts' && ref.subresource === 'token') return 'tokenrequest';
  if (ref.apiGroup === 'authentication.k8s.io' && ref.resource === 'tokenreviews') return 'tokenreview';
  return undefined;
}

function scrubBody(body: unknown, scope: Scope): unknown {
  switch (scope) {
    case 'secret':
      // A body that is not JSON (a YAML apply patch kept as text) cannot be scrubbed by key: all of it goes.
      if (typeof body === 'string') return body === '' || body === REDACTED ? body : REDACTED;
      return secretNode(body);
    case 'tokenreview':
      return setIn(findSecrets(body), ['spec', 'token']);
    case 'tokenrequest':
      return setIn(findSecrets(body), ['status', 'token']);
    default:
      return findSecrets(body);
  }
}

/** Outside a Secret request: walks the body for objects that are Secrets (or lists of them, or tokens). */
function findSecrets(node: unknown): unknown {
  if (Array.isArray(node)) return mapArray(node, findSecrets);
  if (!isPlainObject(node)) return node;
  switch (node.kind) {
    case 'Secret':
    case 'SecretList':
      return secretNode(node);
    case 'TokenReview':
      return setIn(node, ['spec', 'token']);
    case 'TokenRequest':
      return setIn(node, ['status', 'token']);
  }
  return mapObject(node, (_key, value) => (typeof value === 'object' && value !== null ? findSecrets(value) : value));
}

/**
 * Inside something that is (or holds, or patches) Secrets: every `data` and `stringData` map has its
 * values redacted wherever it is (a Secret, list items, table rows), and so has the last-applied
 * annotation; arrays of JSON patch operations have the values they write redacted.
 */
function secretNode(node: unknown): unknown {
  if (Array.isArray(node)) return mapArray(node, (element) => (isPatchOperation(element) ? patchOperation(element) : secretNode(element)));
  if (!isPlainObject(node)) return node;
  return mapObject(node, (key, value) => {
    if (key === 'data' || key === 'stringData') return redactMap(value);
    if (key === LAST_APPLIED) return redactValue(value);
    return typeof value === 'object' && value !== null ? secretNode(value) : value;
  });
}

function isPatchOperation(value: unknown): value is Record<string, unknown> & { op: string; path: string } {
  return isPlainObject(value) && typeof value.op === 'string' && typeof value.path === 'string';
}

/** One RFC 6902 operation on a Secret: the value it writes is redacted when it lands in data, stringData or the whole object. */
function patchOperation(op: Record<string, unknown> & { path: string }): unknown {
  if (!('value' in op)) return op;
  const { path, value } = op;
  let next = value;
  if (path === '' || path === '/' || path.startsWith('/metadata')) next = path.includes('last-applied-configuration') ? redactValue(value) : secretNode(value);
  else if (path === '/data' || path === '/stringData') next = redactMap(value);
  else if (path.startsWith('/data/') || path.startsWith('/stringData/')) next = redactValue(value);
  return next === value ? op : { ...op, value: next };
}

/** A map's values redacted (null values, which delete keys in a merge patch, stay). */
function redactMap(value: unknown): unknown {
  if (isPlainObject(value)) return mapObject(value, (_key, v) => redactValue(v));
  return redactValue(value);
}

function redactValue(value: unknown): unknown {
  return value === null || value === undefined || value === REDACTED ? value : REDACTED;
}

function redactKeys(keys: RegExp): (value: unknown) => unknown {
  return (value) => (isPlainObject(value) ? mapObject(value, (key, v) => (keys.test(key) ? redactValue(v) : v)) : value);
}

/** Replaces the value at `path` (objects only) with "<redacted>". */
function setIn(node: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return redactValue(node);
  if (!isPlainObject(node) || !Object.hasOwn(node, path[0]!)) return node;
  const child = node[path[0]!];
  const next = setIn(child, path.slice(1));
  return next === child ? node : withKey(node, path[0]!, next);
}

/** Rewrites what a jpath path reaches (a key applied to an array applies to each element). */
function rewriteAt(node: unknown, segments: readonly PathSegment[], i: number, leaf: (value: unknown) => unknown): unknown {
  if (node === null || node === undefined) return node;
  if (i === segments.length) return leaf(node);
  const segment = segments[i]!;
  if (Array.isArray(node)) {
    if (segment.index !== undefined) {
      const element: unknown = node[segment.index];
      const next = rewriteAt(element, segments, i + 1, leaf);
      if (next === element) return node;
      const copy: unknown[] = [...(node as unknown[])];
      copy[segment.index] = next;
      return copy;
    }
    return mapArray(node, (element) => rewriteAt(element, segments, i, leaf));
  }
  if (!isPlainObject(node) || !Object.hasOwn(node, segment.key)) return node;
  const child = node[segment.key];
  const next = rewriteAt(child, segments, i + 1, leaf);
  return next === child ? node : withKey(node, segment.key, next);
}

// Copy-on-write helpers: the same reference back when nothing changed.

function mapArray(array: readonly unknown[], fn: (value: unknown) => unknown): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const value = array[i];
    const next = fn(value);
    if (next !== value) (out ??= [...array])[i] = next;
  }
  return out ?? (array as unknown[]);
}

function mapObject(object: Record<string, unknown>, fn: (key: string, value: unknown) => unknown): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const value = object[key];
    const next = fn(key, value);
    if (next !== value) {
      out ??= { ...object };
      define(out, key, next);
    }
  }
  return out ?? object;
}

function withKey(object: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out = { ...object };
  define(out, key, value);
  return out;
}

// An own "__proto__" key (JSON.parse makes one) must stay data, never become the prototype.
function define(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}
