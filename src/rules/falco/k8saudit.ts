// The k8saudit plugin's fields (`ka.*`), extracted as the plugin extracts them, including its quirks,
// so that Falco's rules decide here what they decide in Falco:
//
// - nothing is extracted from an event without an auditID;
// - every value is text (json.ts); JSON null is the text "null", not a missing value;
// - a walk through nested keys maps over the arrays it meets, and an index argument (`[0]`) picks
//   that element of every array on the way; an array at the end of the walk is one value, its JSON
//   text (so `ka.req.pod.containers.add_capabilities` yields one text per container);
// - a list with no values is a missing field.
import { asObject, step, textOf } from './json.js';

export type Event = Record<string, unknown>;

/** A key the walk did not find (Go's "not available"), inside a list of values. */
const NIL: unique symbol = Symbol('nil');

/** The values at the end of `keys`, arrays met on the way mapped (or indexed); undefined when the walk fails before any array. */
export function valuesAt(root: unknown, index: number | undefined, keys: readonly string[], from = 0): unknown[] | undefined {
  let value = root;
  for (let i = from; i < keys.length; i++) {
    if (Array.isArray(value)) {
      if (index === undefined) {
        const out: unknown[] = [];
        for (const element of value) {
          const found = valuesAt(element, index, keys, i);
          if (found === undefined) out.push(NIL);
          else for (const f of found) out.push(f);
        }
        return out;
      }
      if (index >= value.length) return undefined;
      value = value[index];
    }
    // An empty key stands for the value itself (how the plugin lists a volume's keys).
    value = keys[i] === '' ? value : step(value, keys[i]!);
    if (value === undefined) return undefined;
  }
  return [value];
}

/** Texts of the values found, skipping keys not found. */
function textsSkippingNil(values: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const v of values) if (v !== NIL) out.push(textOf(v)!);
  return out;
}

/** A list field's result: a list with no values is missing. */
function list(values: string[] | undefined): string[] | undefined {
  return values !== undefined && values.length > 0 ? values : undefined;
}

/** One value by plain keys (the plugin's extractFromKeys). */
export function scalarAt(e: Event, keys: readonly string[]): string | undefined {
  let value: unknown = e;
  for (const key of keys) {
    value = step(value, key);
    if (value === undefined) return undefined;
  }
  return textOf(value);
}

/** A list by plain keys: the value there must be an array; each element's text. */
export function listAt(e: Event, keys: readonly string[]): string[] | undefined {
  let value: unknown = e;
  for (const key of keys) value = step(value, key);
  if (!Array.isArray(value)) return undefined;
  return list(value.map((v) => textOf(v)!));
}

export type ContainerList = 'containers' | 'initContainers' | 'ephemeralContainers';

/** Each container's `key` under securityContext (or elsewhere), skipping containers without it. */
export function containerValues(e: Event, which: ContainerList, index: number | undefined, path: readonly string[]): string[] | undefined {
  const found = valuesAt(e, index, ['requestObject', 'spec', which, ...path]);
  return found === undefined ? undefined : list(textsSkippingNil(found));
}

/** Texts at the end of a walk from the event (arrays mapped, or indexed), skipping keys not found. */
export function valuesOf(e: Event, index: number | undefined, keys: readonly string[]): string[] | undefined {
  const found = valuesAt(e, index, keys);
  return found === undefined ? undefined : list(textsSkippingNil(found));
}

/** Every container's image; missing if any container has none (the plugin fails the extraction). */
export function containerImages(e: Event, which: ContainerList, index: number | undefined): string[] | undefined {
  const found = valuesAt(e, index, ['requestObject', 'spec', which, 'image']);
  if (found === undefined || found.includes(NIL)) return undefined;
  return list(found.map((v) => textOf(v)!));
}

/** The repository part of an image: before the first ":", then before any "@" (as the plugin splits it). */
export function imageRepository(image: string): string {
  const colon = image.indexOf(':');
  const beforeTag = colon < 0 ? image : image.slice(0, colon);
  const at = beforeTag.indexOf('@');
  return at < 0 ? beforeTag : beforeTag.slice(0, at);
}

export function containerRepositories(e: Event, which: ContainerList, index: number | undefined): string[] | undefined {
  return containerImages(e, which, index)?.map(imageRepository);
}

/** hostPort of each container port, else its containerPort. Missing when ports is not a list. */
export function containerHostPorts(e: Event, which: ContainerList, index: number | undefined): string[] | undefined {
  const found = valuesAt(e, index, ['requestObject', 'spec', which, 'ports']);
  if (found === undefined) return undefined;
  const out: string[] = [];
  for (const ports of found) {
    if (ports === NIL) continue;
    if (!Array.isArray(ports)) return undefined;
    for (const port of ports) {
      const hostPort = step(port, 'hostPort');
      const containerPort = step(port, 'containerPort');
      if (hostPort !== undefined) out.push(textOf(hostPort)!);
      else if (containerPort !== undefined) out.push(textOf(containerPort)!);
    }
  }
  return list(out);
}

/**
 * The uid (or gid) each container starts with: its own `runAsUser`, else the pod's, else "0". The
 * plugin reads both directly under the container and under spec, not under securityContext; kept so.
 */
export function effectiveIds(e: Event, which: ContainerList, index: number | undefined, key: 'runAsUser' | 'runAsGroup'): string[] | undefined {
  const pod = scalarAt(e, ['requestObject', 'spec', key]) ?? '0';
  const found = valuesAt(e, index, ['requestObject', 'spec', which, key]);
  if (found === undefined) return undefined;
  return list(found.map((v) => (v === NIL ? pod : textOf(v)!)));
}

/** A field of the role's rules (verbs, resources…), every rule's list flattened. */
export function roleRuleValues(e: Event, index: number | undefined, key: string): string[] | undefined {
  const found = valuesAt(e, index, ['requestObject', 'rules', key]);
  if (found === undefined) return undefined;
  const out: string[] = [];
  for (const v of found) if (Array.isArray(v)) for (const item of v) out.push(textOf(item)!);
  return list(out);
}

/** Each volume's keys other than its name (its type: hostPath, configMap…). */
export function volumeTypes(e: Event, index: number | undefined): string[] | undefined {
  const found = valuesAt(e, index, ['requestObject', 'spec', 'volumes', '']);
  if (found === undefined) return undefined;
  const out: string[] = [];
  for (const v of found) {
    const volume = asObject(v);
    if (volume) for (const key of Object.keys(volume)) if (key !== 'name') out.push(key);
  }
  return list(out);
}

/** Deprecated ka.req.volume.hostpath[p]: "true" if a hostPath is p, or starts with p minus a trailing "*". */
export function hostPathUsed(e: Event, arg: string): string | undefined {
  const found = valuesAt(e, undefined, ['requestObject', 'spec', 'volumes', 'hostPath', 'path']);
  if (found === undefined) return undefined;
  const prefix = arg.endsWith('*') ? arg.slice(0, -1) : undefined;
  for (const path of textsSkippingNil(found)) if ((prefix !== undefined && path.startsWith(prefix)) || path === arg) return 'true';
  return 'false';
}

/** Deprecated ka.req.container.privileged: "true" if any container is privileged, else "false". */
export function anyPrivileged(e: Event): string | undefined {
  const found = valuesAt(e, undefined, ['requestObject', 'spec', 'containers', 'securityContext', 'privileged']);
  if (found === undefined) return undefined;
  return found.some((v) => v === true) ? 'true' : 'false';
}

/** The names of the binding's subjects of one kind; serviceaccount_ns_names as namespace:name. */
export function subjectNames(e: Event, kind: 'User' | 'Group' | 'ServiceAccount', withNamespace = false): string[] | undefined {
  const subjects = step(step(e, 'requestObject'), 'subjects');
  if (!Array.isArray(subjects)) return undefined;
  const out: string[] = [];
  for (const s of subjects) {
    const subject = asObject(s);
    if (!subject || subject.kind !== kind || subject.name === undefined) continue;
    const name = textOf(subject.name)!;
    out.push(withNamespace ? `${textOf(subject.namespace) ?? ''}:${name}` : name);
  }
  return list(out);
}

/** The first value of a query parameter of requestURI; missing when the query cannot be decoded. */
export function uriParam(e: Event, key: string): string | undefined {
  const uri = textOf(e.requestURI);
  if (uri === undefined) return undefined;
  const hash = uri.indexOf('#');
  const withoutFragment = hash < 0 ? uri : uri.slice(0, hash);
  const q = withoutFragment.indexOf('?');
  if (q < 0) return undefined;
  const params = new Map<string, string>();
  for (const part of withoutFragment.slice(q + 1).split('&')) {
    if (part === '') continue;
    // Go's query parser refuses ";" separators and bad escapes: the whole query, then, yields nothing.
    if (part.includes(';')) return undefined;
    const eq = part.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replaceAll('+', ' '));
      value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replaceAll('+', ' '));
    } catch {
      return undefined;
    }
    if (!params.has(name)) params.set(name, value);
  }
  return params.get(key);
}

/** responseObject.metadata.name when the request is on a pod itself (no subresource). */
export function targetPodName(e: Event): string | undefined {
  const ref = asObject(e.objectRef);
  if (!ref || ref.resource !== 'pods' || (ref.subresource !== undefined && ref.subresource !== '')) return undefined;
  return scalarAt(e, ['responseObject', 'metadata', 'name']);
}
