import type { HttpClientFields } from './config.js';
import { SecretFile } from '../../util/secret-file.js';

/**
 * The Authorization header of every request: a bearer token read from a file (re-read when the
 * file changes, so a projected service account token rotates without a restart) or basic auth
 * whose parts come from the config, files or the environment. Values are never logged.
 */
export class Credentials {
  private constructor(private readonly produce: (() => Promise<string>) | undefined) {}

  /** Throws, naming the config key, when a referenced environment variable is not set. */
  static from(settings: Pick<HttpClientFields, 'bearerTokenFile' | 'basicAuth'>, env: NodeJS.ProcessEnv = process.env): Credentials {
    if (settings.bearerTokenFile !== undefined) {
      const file = new SecretFile(settings.bearerTokenFile);
      return new Credentials(async () => `Bearer ${await readSecret(file, 'bearerTokenFile')}`);
    }
    const basic = settings.basicAuth;
    if (basic === undefined) return new Credentials(undefined);

    const username = basic.usernameFile !== undefined ? new SecretFile(basic.usernameFile) : basic.username!;
    let password: string | SecretFile;
    if (basic.passwordFile !== undefined) password = new SecretFile(basic.passwordFile);
    else if (basic.passwordEnv !== undefined) {
      const value = env[basic.passwordEnv];
      if (value === undefined || value === '') {
        throw new Error(`basicAuth.passwordEnv: the environment variable ${basic.passwordEnv} is not set`);
      }
      password = value;
    } else password = basic.password!;

    return new Credentials(async () => {
      const user = typeof username === 'string' ? username : await readSecret(username, 'basicAuth.usernameFile');
      const pass = typeof password === 'string' ? password : await readSecret(password, 'basicAuth.passwordFile');
      return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
    });
  }

  get configured(): boolean {
    return this.produce !== undefined;
  }

  /** The header value, or undefined when no authentication is configured. */
  async authorization(): Promise<string | undefined> {
    return this.produce?.();
  }
}

async function readSecret(file: SecretFile, key: string): Promise<string> {
  try {
    return await file.read();
  } catch (err) {
    // The message names the file, never its content.
    throw new CredentialError(`${key}: cannot read ${file.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
}

/** A credential file that cannot be read right now (it may appear or be refilled: retried). */
export class CredentialError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'CredentialError';
  }
}
