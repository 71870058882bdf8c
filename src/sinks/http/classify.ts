/** What a response status means for delivery (docs/architecture.md, the delivery guarantee). */
export type StatusClass = 'delivered' | 'transient' | 'permanent';

/**
 * Any 2xx is delivered (as the kube-apiserver's webhook client counts it). 408, 429 and 5xx are
 * the receiver's own trouble and pass. Everything else (other 4xx, and 1xx/3xx, since redirects
 * are not followed) says the request itself is wrong, so sending it again cannot help.
 */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) return 'transient';
  return 'permanent';
}
