// GKE's AuditLog resourceName → the kube-apiserver's objectRef and request path.
// The grammar follows the apiserver's own request parsing (k8s.io/apiserver requestinfo.go), which
// is what decides objectRef on a native event; src/sources/gke/README.md (Normalization).

import type { ObjectReference } from '../../event/event.js';

/** What a resourceName says about the request. */
export interface ParsedResource {
  /** Absent when the name is not an API resource path (e.g. `core/templates/preview`). */
  objectRef?: ObjectReference;
  requestURI: string;
}

const API_VERSION = /^v\d+((alpha|beta)\d+)?$/;
/** Subresources of a Namespace object that the apiserver does not treat as a namespaced resource. */
const NAMESPACE_SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'finalize']);
/** Streaming subresources; the 2020 GKE form repeats the pod name after them. */
export const STREAMING_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward']);

/**
 * Parses `<group|core>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<subresource>[/…]]]`.
 * Never fails: a name it cannot read as a resource path keeps the entry with no objectRef and a
 * path made of the name itself.
 */
export function parseResourceName(resourceName: string, verb: string): ParsedResource {
  const trimmed = resourceName.replace(/^\/+/, '');
  const segments = trimmed.split('/');
  const [group, version, ...rest] = segments;
  if (group === undefined || group === '' || version === undefined || !API_VERSION.test(version) || segments.some((s) => s === '')) {
    return { requestURI: `/${trimmed}` };
  }
  const core = group === 'core';
  const root = core ? `/api/${version}` : `/apis/${group}/${version}`;
  if (rest.length === 0) return { requestURI: root }; // API discovery, not a resource

  let namespace: string | undefined;
  let path = rest;
  if (path[0] === 'namespaces' && path.length >= 3 && !NAMESPACE_SUBRESOURCES.has(path[2]!)) {
    namespace = path[1];
    path = path.slice(2);
  }
  const resource = path[0]!;
  const name = path[1];
  const subresource = path[2];
  let subPath = path.slice(3);
  // …/pods/P/exec/P (older GKE): the trailing pod name is not part of the request path.
  if (subresource !== undefined && STREAMING_SUBRESOURCES.has(subresource) && subPath.length === 1 && subPath[0] === name) {
    subPath = [];
  }

  const objectRef: ObjectReference = { resource };
  // The apiserver sets the namespace of every request on /api/v1/namespaces/{name}[/…] to that
  // name. A create of the Namespace itself is a POST to the collection (GKE appends the name).
  const namespaceObject = core && namespace === undefined && resource === 'namespaces' && name !== undefined && (verb !== 'create' || subresource !== undefined);
  if (namespace !== undefined) objectRef.namespace = namespace;
  else if (namespaceObject) objectRef.namespace = name;
  if (name !== undefined) objectRef.name = name;
  if (!core) objectRef.apiGroup = group;
  objectRef.apiVersion = version;
  if (subresource !== undefined) objectRef.subresource = subresource;

  let uri = root;
  if (namespace !== undefined) uri += `/namespaces/${namespace}`;
  uri += `/${resource}`;
  // A create without a subresource is the POST to the collection, whatever name the object got.
  if (name !== undefined && !(verb === 'create' && subresource === undefined)) uri += `/${name}`;
  if (subresource !== undefined) uri += `/${subresource}`;
  if (subPath.length > 0) uri += `/${subPath.join('/')}`;
  return { objectRef, requestURI: uri };
}
