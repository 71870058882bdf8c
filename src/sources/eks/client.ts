import type {
  CloudWatchLogsClient,
  CloudWatchLogsClientConfig,
  FilterLogEventsCommandInput,
  FilterLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import type { EksSourceConfig } from './config.js';
import type { TokenBucket } from '../../util/token-bucket.js';

/** Static keys or a provider, as the SDK client takes them. */
export type AwsCredentials = NonNullable<CloudWatchLogsClientConfig['credentials']>;

/** One FilterLogEvents call, one HTTP attempt, one token of the shared bucket. */
export type FilterLogEvents = (input: FilterLogEventsCommandInput, signal: AbortSignal) => Promise<FilterLogEventsCommandOutput>;

/** The name of the SDK's per-call logging middleware (createFilterLogEvents removes it). */
export const SDK_LOGGER_MIDDLEWARE = 'loggerMiddleware';

/**
 * Builds the CloudWatch Logs client for one source. The SDK is imported here, on first use, so
 * commands that never poll EKS do not load it.
 *
 * Credentials: `credentials` when given (tests: static keys); otherwise the AWS default chain
 * (environment, IRSA web identity, shared config profile, container and instance metadata), with
 * `roleArn` assumed on top of it. `stsEndpoint` points both STS calls (web identity and
 * AssumeRole) somewhere else, which is how tests reach the emulator.
 *
 * Retries: the SDK's own retries are off (maxAttempts 1). The polling loop backs off instead and
 * resumes from the cursor, and on throttling pauses the bucket every source of the same account
 * and Region shares; the SDK would retry per client, blind to the other sources on the quota.
 * The token is still taken per HTTP attempt (a middleware at the deserialize step, which runs
 * once per attempt), so turning SDK retries back on would keep every request paced.
 */
export async function createFilterLogEvents(
  config: EksSourceConfig,
  bucket: TokenBucket,
  credentials?: AwsCredentials,
): Promise<{ filterLogEvents: FilterLogEvents; client: CloudWatchLogsClient }> {
  // The SDK warns on stderr about Node 20 at load; the bridge supports Node 20 on purpose.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { CloudWatchLogsClient, FilterLogEventsCommand } = await import('@aws-sdk/client-cloudwatch-logs');
  const client = new CloudWatchLogsClient({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    credentials: credentials ?? (await defaultCredentials(config)),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
  });
  // The SDK's logger middleware builds a redacted copy of every response for its info line before
  // calling the logger, whether the logger writes it or not: a walk of each page's 10,000 events at
  // most, on the main thread, for a line the bridge never logs (about 2% of the main thread's busy
  // time in an EKS drain's CPU profile). The bridge logs its own requests' outcomes.
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  const filterLogEvents: FilterLogEvents = (input, signal) => {
    const command = new FilterLogEventsCommand(input);
    command.middlewareStack.add(
      (next) => async (args) => {
        await bucket.take(signal);
        return next(args);
      },
      { step: 'deserialize', name: 'sharedQuotaToken', priority: 'low' },
    );
    return client.send(command, { abortSignal: signal });
  };
  return { filterLogEvents, client };
}

async function defaultCredentials(config: EksSourceConfig): Promise<AwsCredentials> {
  const { fromNodeProviderChain, fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
  const stsConfig = { region: config.region, ...(config.stsEndpoint ? { endpoint: config.stsEndpoint } : {}) };
  const chain = fromNodeProviderChain({ ...(config.profile ? { profile: config.profile } : {}), clientConfig: stsConfig });
  if (!config.roleArn) return chain;
  return fromTemporaryCredentials({
    params: {
      RoleArn: config.roleArn,
      RoleSessionName: config.roleSessionName,
      ...(config.externalId ? { ExternalId: config.externalId } : {}),
    },
    masterCredentials: chain,
    clientConfig: stsConfig,
  });
}

/** The account a source reads: configured, else the one in roleArn; undefined when unknown. */
export function accountOf(config: Pick<EksSourceConfig, 'accountId' | 'roleArn'>): string | undefined {
  return config.accountId ?? (config.roleArn ? /^arn:aws[a-z-]*:iam::(\d{12}):/.exec(config.roleArn)?.[1] : undefined);
}
