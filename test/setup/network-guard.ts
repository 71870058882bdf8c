// Refuses every TCP connection, UDP datagram and DNS lookup that is not for loopback, and fails
// the test that tried. The cloud SDKs reach for metadata servers (169.254.169.254) and login
// hosts by default; on these machines no packet may leave 127.0.0.1.
import dgram from 'node:dgram';
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { afterEach } from 'vitest';

process.env.METADATA_SERVER_DETECTION = 'none';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const violations: string[] = [];

/** Returns and clears what the guard refused; for the test that proves the guard works. */
export function takeViolations(): string[] {
  return violations.splice(0);
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

function refuse(what: string): Error {
  const message = `network guard: refused ${what} (tests may only reach loopback)`;
  violations.push(message);
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = 'ECONNREFUSED';
  return err;
}

type ConnectArgs = unknown[];
interface ConnectTarget {
  host?: string | null;
  port?: number | string;
  /** A Unix socket path; node:http passes `path: null` for TCP, so only a string counts. */
  path?: string | null;
}

function targetOf(args: ConnectArgs): ConnectTarget {
  // net.connect() hands Socket#connect an already-normalized [options, callback] array.
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (typeof first === 'object' && first !== null) return first;
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  return { port: first as number, host: typeof args[1] === 'string' ? args[1] : undefined };
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be re-applied with the socket as `this`
const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: ConnectArgs) {
  const target = targetOf(args);
  if (typeof target.path !== 'string') {
    const host = target.host ?? 'localhost';
    if (!isLoopback(host)) {
      const err = refuse(`a TCP connection to ${host}:${String(target.port)}`);
      process.nextTick(() => this.destroy(err));
      return this;
    }
  }
  return (originalConnect as (...a: ConnectArgs) => net.Socket).apply(this, args);
};

const originalLookup = dns.lookup;
function guardedLookup(hostname: string, ...rest: unknown[]): void {
  const callback = rest[rest.length - 1] as (err: Error | null, ...r: unknown[]) => void;
  if (!isLoopback(hostname)) {
    const err = refuse(`a DNS lookup of ${hostname}`);
    process.nextTick(() => callback(err));
    return;
  }
  (originalLookup as (...a: unknown[]) => void)(hostname, ...rest);
}
(dns as { lookup: unknown }).lookup = guardedLookup;

const originalPromisesLookup = dns.promises.lookup;
(dns.promises as { lookup: unknown }).lookup = (hostname: string, ...rest: unknown[]) =>
  isLoopback(hostname)
    ? (originalPromisesLookup as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest)
    : Promise.reject(refuse(`a DNS lookup of ${hostname}`));

// Resolvers query DNS servers directly: nothing a test needs.
for (const name of ['resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveSrv', 'resolveTxt'] as const) {
  (dns as unknown as Record<string, unknown>)[name] = (hostname: string, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (err: Error) => void;
    process.nextTick(() => callback(refuse(`a DNS query (${name}) for ${hostname}`)));
  };
  (dns.promises as unknown as Record<string, unknown>)[name] = (hostname: string) =>
    Promise.reject(refuse(`a DNS query (${name}) for ${hostname}`));
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be re-applied with the socket as `this`
const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function guardedSend(this: dgram.Socket, ...args: unknown[]) {
  // send(msg, [offset, length,] port, address, callback): the address is the first string after the message.
  const address = args.slice(1).find((a) => typeof a === 'string');
  if (typeof address === 'string' && !isLoopback(address)) {
    const err = refuse(`a UDP datagram to ${address}`);
    const callback = args.find((a) => typeof a === 'function') as ((e: Error) => void) | undefined;
    process.nextTick(() => (callback ? callback(err) : this.emit('error', err)));
    return;
  }
  return (originalSend as (...a: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.send;

// ESM `import { lookup } from 'node:dns'` sees the patched functions only after this.
syncBuiltinESMExports();

afterEach(() => {
  const refused = takeViolations();
  if (refused.length > 0) throw new Error(`the test tried to leave loopback:\n  ${refused.join('\n  ')}`);
});
