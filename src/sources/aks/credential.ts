import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type GetTokenOptions,
  type AccessToken,
  type TokenCredential,
} from '@azure/identity';
import type { AksSourceConfig } from './config.js';
import { SecretFile } from '../../util/secret-file.js';

type CredentialConfig = AksSourceConfig['credential'];

export interface CredentialDeps {
  /** PEM of a CA to trust for the token endpoint (an emulator's), from the source's caFile. */
  ca?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * The identity the source queries with. `default` is DefaultAzureCredential: environment (client
 * secret or certificate), workload identity, managed identity, then developer logins. The other
 * types pick one explicitly; ids not set in the config come from AZURE_TENANT_ID / AZURE_CLIENT_ID.
 */
export function createCredential(config: CredentialConfig, deps: CredentialDeps = {}): TokenCredential {
  const env = deps.env ?? process.env;
  const tenantId = config.tenantId ?? env.AZURE_TENANT_ID;
  const clientId = config.clientId ?? env.AZURE_CLIENT_ID;
  // A custom authority (an emulator, a sovereign cloud's login host given by hand) is not in
  // MSAL's instance list: without this MSAL asks login.microsoftonline.com about it first.
  const common = {
    ...(config.authorityHost ? { authorityHost: config.authorityHost, disableInstanceDiscovery: true } : {}),
    ...(deps.ca ? { tlsOptions: { ca: deps.ca } } : {}),
  };
  const need = (value: string | undefined, what: string): string => {
    if (!value) throw new Error(`credential type ${config.type} needs ${what}`);
    return value;
  };
  switch (config.type) {
    case 'default':
      return new DefaultAzureCredential({
        ...common,
        ...(tenantId ? { tenantId } : {}),
        ...(clientId ? { managedIdentityClientId: clientId, workloadIdentityClientId: clientId } : {}),
      });
    case 'clientSecret': {
      const tenant = need(tenantId, 'tenantId (or AZURE_TENANT_ID)');
      const client = need(clientId, 'clientId (or AZURE_CLIENT_ID)');
      if (config.clientSecretFile) return new RotatingSecretCredential(new SecretFile(config.clientSecretFile), (secret) => new ClientSecretCredential(tenant, client, secret, common));
      return new ClientSecretCredential(tenant, client, need(env.AZURE_CLIENT_SECRET, 'clientSecretFile or AZURE_CLIENT_SECRET'), common);
    }
    case 'clientCertificate':
      return new ClientCertificateCredential(
        need(tenantId, 'tenantId (or AZURE_TENANT_ID)'),
        need(clientId, 'clientId (or AZURE_CLIENT_ID)'),
        { certificatePath: need(config.certificateFile ?? env.AZURE_CLIENT_CERTIFICATE_PATH, 'certificateFile or AZURE_CLIENT_CERTIFICATE_PATH') },
        common,
      );
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({
        ...common,
        tenantId: need(tenantId, 'tenantId (or AZURE_TENANT_ID)'),
        clientId: need(clientId, 'clientId (or AZURE_CLIENT_ID)'),
        tokenFilePath: need(config.tokenFile ?? env.AZURE_FEDERATED_TOKEN_FILE, 'tokenFile or AZURE_FEDERATED_TOKEN_FILE'),
      });
    case 'managedIdentity':
      return new ManagedIdentityCredential({ ...common, ...(clientId ? { clientId } : {}) });
  }
}

/** A short, stable name for the identity: sources with the same one share the 200-per-30-s quota. */
export function identityKey(config: CredentialConfig, env: NodeJS.ProcessEnv = process.env): string {
  const tenantId = config.tenantId ?? env.AZURE_TENANT_ID ?? '';
  const clientId = config.clientId ?? env.AZURE_CLIENT_ID ?? '';
  return `${config.type}:${tenantId}:${clientId}`;
}

/** A client secret read from a file; a new secret (a rotated Secret volume) builds a new credential. */
class RotatingSecretCredential implements TokenCredential {
  private current: { secret: string; credential: TokenCredential } | undefined;

  constructor(
    private readonly file: SecretFile,
    private readonly build: (secret: string) => TokenCredential,
  ) {}

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const secret = await this.file.read();
    if (this.current?.secret !== secret) this.current = { secret, credential: this.build(secret) };
    return this.current.credential.getToken(scopes, options);
  }
}
