import selfsigned from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

export interface LocalPki {
  ca: Pem;
  /** For 127.0.0.1 and localhost. */
  server: Pem;
  /** Client certificate for mutual TLS. */
  client: Pem;
}

const KEY = { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const;

/**
 * A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate,
 * made at start for the emulators' HTTPS endpoints and for TLS tests. Nothing is written to disk
 * unless the caller does it.
 */
export async function createLocalPki(name = 'kube-audit-bridge local'): Promise<LocalPki> {
  const ca = await selfsigned.generate([{ name: 'commonName', value: `${name} CA` }], {
    ...KEY,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const signer = { key: ca.private, cert: ca.cert };
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    ...KEY,
    ca: signer,
    extensions: [
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      { name: 'extKeyUsage', serverAuth: true },
    ],
  });
  const client = await selfsigned.generate([{ name: 'commonName', value: `${name} client` }], {
    ...KEY,
    ca: signer,
    extensions: [{ name: 'extKeyUsage', clientAuth: true }],
  });
  return {
    ca: { cert: ca.cert, key: ca.private },
    server: { cert: server.cert, key: server.private },
    client: { cert: client.cert, key: client.private },
  };
}
