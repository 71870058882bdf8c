import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../telemetry/logger.js';

export interface TlsSettings {
  certFile: string;
  keyFile: string;
  /** Client certificates are asked for and checked against this CA. */
  clientCaFile?: string | undefined;
  /** How often the files are checked for a change, in ms. */
  reloadInterval: number;
}

/**
 * The server's certificate, key and client CA, read from files and read again when they change
 * (cert-manager renews a certificate by replacing the files of a mounted Secret), so a renewal
 * needs no restart. A change that cannot be read or does not form a valid pair (caught between the
 * writes of the certificate and of the key) keeps the old context and is tried again later.
 */
export class TlsFiles {
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: TlsSettings,
    private readonly logger: Logger,
  ) {
    this.stamp = this.currentStamp();
  }

  /** Options for https.createServer: the files' contents, and client certificates asked for when a CA is set. */
  secureOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
    return {
      ...this.read(),
      // Asked for, not required: the probes and /metrics on this port come without one, and each
      // webhook source checks `authorized` itself.
      requestCert: this.settings.clientCaFile !== undefined,
      rejectUnauthorized: false,
    };
  }

  /** Starts checking the files; `apply` gets each new context. */
  watch(apply: (context: SecureContextOptions) => void): void {
    this.timer = setInterval(() => {
      const stamp = this.currentStamp();
      if (stamp === this.stamp) return;
      try {
        const options = this.read();
        // Built once here so that a mismatched certificate and key are caught before they are used.
        createSecureContext(options);
        apply(options);
        this.stamp = stamp;
        this.logger.info({ certFile: this.settings.certFile }, 'TLS certificate reloaded');
      } catch (err) {
        this.logger.warn({ certFile: this.settings.certFile, error: (err as Error).message }, 'TLS files changed but cannot be used yet; keeping the previous certificate');
      }
    }, this.settings.reloadInterval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private read(): SecureContextOptions {
    const { certFile, keyFile, clientCaFile } = this.settings;
    return {
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
      ...(clientCaFile !== undefined ? { ca: readFileSync(clientCaFile) } : {}),
    };
  }

  /** Modification time and size of each file (a missing file counts as a change). */
  private currentStamp(): string {
    const { certFile, keyFile, clientCaFile } = this.settings;
    return [certFile, keyFile, clientCaFile]
      .filter((f): f is string => f !== undefined)
      .map((f) => {
        try {
          const info = statSync(f);
          return `${info.mtimeMs}:${info.size}:${info.ino}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }
}
