import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalPki, type LocalPki } from '../../../src/util/certs.js';
import { VirtualClock } from '../../helpers/clock.js';
import { makeEvents } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { TestReceiver } from '../../helpers/http-receiver.js';
import { eventually } from '../../helpers/pipeline.js';
import { metricValue, onCleanup, webhookSink } from '../../helpers/webhook.js';

let pki: LocalPki;
let stranger: LocalPki;

beforeAll(async () => {
  // Generated here: one PKI the receiver trusts, and an unrelated one.
  pki = await createLocalPki('webhook test');
  stranger = await createLocalPki('someone else');
});

/** The PEMs as files, as a sink's config names them. */
async function files(): Promise<Record<string, string>> {
  const dir = await tempDir();
  const out: Record<string, string> = {};
  const pems = { ca: pki.ca.cert, wrongCa: stranger.ca.cert, clientCert: pki.client.cert, clientKey: pki.client.key, strangerCert: stranger.client.cert, strangerKey: stranger.client.key };
  for (const [name, pem] of Object.entries(pems)) {
    out[name] = join(dir, `${name}.pem`);
    await writeFile(out[name], pem);
  }
  return out;
}

/** An HTTPS receiver on 127.0.0.1 that requires a client certificate signed by the test CA. */
async function mtlsReceiver(): Promise<TestReceiver> {
  const r = await TestReceiver.start({ tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert } });
  onCleanup(() => r.close());
  return r;
}

describe('webhook sink over HTTPS with mutual TLS', () => {
  it('delivers with the right CA and client certificate', async () => {
    const f = await files();
    const r = await mtlsReceiver();
    const { write } = await webhookSink(r.url, { caFile: f.ca, certFile: f.clientCert, keyFile: f.clientKey });
    await write(makeEvents(0, 3));
    expect(r.requests).toHaveLength(1);
    expect(r.url.startsWith('https://127.0.0.1:')).toBe(true);
  });

  it('fails, and keeps retrying without delivering, with a CA that did not sign the server certificate', async () => {
    const f = await files();
    const r = await mtlsReceiver();
    const healthClock = new VirtualClock();
    const { write: deliver, metrics, health, logs } = await webhookSink(
      r.url,
      { caFile: f.wrongCa, certFile: f.clientCert, keyFile: f.clientKey, failureThreshold: '1m' },
      { healthClock },
    );
    health.markStarted();
    const abort = new AbortController();
    const write = deliver(makeEvents(0, 3), abort.signal);
    write.catch(() => undefined);
    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'network' })) >= 3);
    expect(r.requests).toHaveLength(0);
    const retry = logs.lines().find((l) => l.msg === 'sink write failed; retrying');
    expect(String(retry?.error)).toMatch(/certificate/i);
    // Failing for longer than failureThreshold shows in readiness (/readyz) and in sink_failing.
    expect(health.readiness().ready).toBe(true);
    healthClock.advance(61_000);
    const readiness = health.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.problems[0]).toMatch(/^sink hook failing for 61 s \(.*certificate/i);
    expect(await metricValue(metrics.sinkFailing, { sink: 'hook' })).toBe(1);
    abort.abort();
    await expect(write).rejects.toThrow();
  });

  it('fails without a client certificate: the receiver refuses the handshake', async () => {
    const f = await files();
    const r = await mtlsReceiver();
    const { write: deliver, metrics } = await webhookSink(r.url, { caFile: f.ca });
    const abort = new AbortController();
    const write = deliver(makeEvents(0, 1), abort.signal);
    write.catch(() => undefined);
    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'network' })) >= 2);
    expect(r.requests).toHaveLength(0);
    abort.abort();
    await expect(write).rejects.toThrow();
  });

  it('fails with a client certificate from another CA', async () => {
    const f = await files();
    const r = await mtlsReceiver();
    const { write: deliver, metrics } = await webhookSink(r.url, { caFile: f.ca, certFile: f.strangerCert, keyFile: f.strangerKey });
    const abort = new AbortController();
    const write = deliver(makeEvents(0, 1), abort.signal);
    write.catch(() => undefined);
    await eventually(async () => (await metricValue(metrics.httpClientRequests, { target: 'hook', code: 'network' })) >= 2);
    expect(r.requests).toHaveLength(0);
    abort.abort();
    await expect(write).rejects.toThrow();
  });

  it('insecureSkipVerify delivers to a server it cannot verify, and logs a warning', async () => {
    const f = await files();
    const r = await mtlsReceiver();
    const { write, logs } = await webhookSink(r.url, { insecureSkipVerify: true, certFile: f.clientCert, keyFile: f.clientKey });
    await write(makeEvents(0, 2));
    expect(r.requests).toHaveLength(1);
    expect(logs.lines().some((l) => l.level === 'warn' && l.msg === 'insecureSkipVerify is on: the server certificate is not verified')).toBe(true);
  });

  it('an unreadable caFile stops the start, naming the key', async () => {
    await expect(webhookSink('https://127.0.0.1:9/x', { caFile: '/nonexistent/ca.pem' })).rejects.toThrow('caFile: cannot read /nonexistent/ca.pem: ENOENT');
  });
});
