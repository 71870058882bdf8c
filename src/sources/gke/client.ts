// The Cloud Logging client: @google-cloud/logging over gRPC, imported only when a gke source runs
// so the CLI does not load google-gax for anything else.

import type { GkeSourceConfig } from './config.js';
import { untilAborted } from '../../util/clock.js';

export interface EntriesRequest {
  filter: string;
  pageSize: number;
  pageToken?: string;
}

export interface EntriesPage {
  /** Raw LogEntry messages: protoPayload still an Any, timestamps {seconds, nanos}. */
  entries: unknown[];
  nextPageToken: string;
}

export interface LoggingClient {
  list(request: EntriesRequest, signal: AbortSignal): Promise<EntriesPage>;
  close(): Promise<void>;
}

/** A call that hangs must not stall the source: the loop retries it from the checkpoint. */
const CALL_TIMEOUT_MS = 60_000;

/** `host:port` → its parts; a bare host means 443. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(endpoint.trim());
  if (!m) throw new Error(`endpoint ${JSON.stringify(endpoint)}: expected host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 443 };
}

type Config = Pick<GkeSourceConfig, 'projectId' | 'endpoint' | 'insecure' | 'keyFile'>;

export async function createLoggingClient(config: Config): Promise<LoggingClient> {
  const [{ Logging }, grpc] = await Promise.all([import('@google-cloud/logging'), import('@grpc/grpc-js')]);
  const options: Record<string, unknown> = { projectId: config.projectId };
  if (config.endpoint) {
    const { host, port } = parseEndpoint(config.endpoint);
    options.apiEndpoint = host;
    options.port = port;
  }
  if (config.insecure) {
    // Plaintext and no Google auth; the universe domain is stated so nothing asks the GCE
    // metadata server for it.
    options.sslCreds = grpc.credentials.createInsecure();
    options.universeDomain = 'googleapis.com';
  } else if (config.keyFile) {
    options.keyFilename = config.keyFile;
  }
  const logging = new Logging(options);
  // The package's generated LoggingServiceV2 client, called directly: Logging.getEntries wraps
  // each entry in an Entry object (a Date for a timestamp, a copy of its fields) that the source
  // would throw away (3% of the main thread's busy time in a profile of a GKE drain).
  const service = logging.loggingService as unknown as {
    listLogEntries(request: Record<string, unknown>, options: Record<string, unknown>): Promise<unknown[]>;
    close(): Promise<void>;
  };
  const projectName = `projects/${config.projectId}`;
  return {
    async list(request, signal) {
      signal.throwIfAborted();
      const call = service.listLogEntries(
        {
          resourceNames: [projectName],
          filter: request.filter,
          orderBy: 'timestamp asc',
          pageSize: request.pageSize,
          ...(request.pageToken ? { pageToken: request.pageToken } : {}),
        },
        // The source's polling loop owns retries and backoff (and the SDK never retries quota
        // errors anyway): one call, the original error. One page per call: the raw response is
        // the third value.
        { autoPaginate: false, retry: { retryCodes: [] }, timeout: CALL_TIMEOUT_MS },
      );
      const response = await untilAborted(call, signal);
      const raw = response[2] as { entries?: unknown[]; nextPageToken?: string } | undefined;
      return { entries: raw?.entries ?? [], nextPageToken: raw?.nextPageToken ?? '' };
    },
    async close() {
      await service.close();
    },
  };
}
