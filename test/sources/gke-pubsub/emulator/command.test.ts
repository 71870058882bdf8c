// runPubsubEmulatorCommand (what `kube-audit-bridge emulator pubsub` will run) and the checks the
// emulator makes on its options before it listens.

import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runPubsubEmulatorCommand, startPubsubEmulator } from '../../../../src/sources/gke-pubsub/emulator/index.js';
import { tempDir } from '../../../helpers/fs.js';
import { consume, entries, Resources, sampleEntries, SUBSCRIPTION, waitFor } from './helpers.js';

const res = new Resources();
afterEach(async () => {
  await res.closeAll();
  vi.restoreAllMocks();
});

function captureStdout(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  return lines;
}

function portOpen(endpoint: string): Promise<boolean> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('runPubsubEmulatorCommand', () => {
  it('prints its endpoint first, serves the data file as JSON lines, and stops when told', async () => {
    const dir = await tempDir();
    const file = join(dir, 'entries.jsonl');
    const data = entries(5);
    await writeFile(file, data.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const stdout = captureStdout();
    const stop = new AbortController();
    const running = runPubsubEmulatorCommand({ port: 0, data: file, subscription: SUBSCRIPTION, faults: 'slow-ms=10' }, stop.signal);
    await waitFor('the ready line', () => stdout.length > 0);
    const ready = JSON.parse(stdout[0]!) as Record<string, unknown>;
    expect(Object.keys(ready)[0]).toBe('endpoint');
    expect(ready).toMatchObject({ subscription: SUBSCRIPTION, topic: 'projects/test-project/topics/kube-audit', messages: 5 });
    const endpoint = ready.endpoint as string;
    expect(endpoint).toMatch(/^127\.0\.0\.1:\d+$/);

    const consumer = consume(res.subscription(endpoint));
    await waitFor('5 messages', () => consumer.received.length === 5);
    expect(consumer.received.map((r) => (JSON.parse(r.message.data.toString('utf8')) as { insertId: string }).insertId).sort()).toEqual(data.map((e) => e.insertId).sort());
    await res.closeAll();

    stop.abort();
    await running;
    expect(await portOpen(endpoint)).toBe(false);
  });

  it('reads a gcloud JSON array as well', async () => {
    const stdout = captureStdout();
    const stop = new AbortController();
    const running = runPubsubEmulatorCommand({ port: 0, data: 'samples/gke/entries.json', subscription: SUBSCRIPTION }, stop.signal);
    await waitFor('the ready line', () => stdout.length > 0);
    expect(JSON.parse(stdout[0]!)).toMatchObject({ messages: sampleEntries().length });
    stop.abort();
    await running;
  });

  it('refuses bad fault specs, unreadable data and malformed subscription names without listening', async () => {
    const stdout = captureStdout();
    const dir = await tempDir();
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"insertId": "a"}\nnot json\n');
    const signal = new AbortController().signal;
    await expect(runPubsubEmulatorCommand({ port: 0, data: 'samples/gke/entries.json', subscription: SUBSCRIPTION, faults: 'nope=1' }, signal)).rejects.toThrow(/unknown fault "nope"/);
    await expect(runPubsubEmulatorCommand({ port: 0, data: bad, subscription: SUBSCRIPTION }, signal)).rejects.toThrow(/line 2: not JSON/);
    await expect(runPubsubEmulatorCommand({ port: 0, data: join(dir, 'missing.json'), subscription: SUBSCRIPTION }, signal)).rejects.toThrow(/ENOENT/);
    await expect(runPubsubEmulatorCommand({ port: 0, data: 'samples/gke/entries.json', subscription: 'kube-audit' }, signal)).rejects.toThrow(
      /expected projects\/P\/subscriptions\/S/,
    );
    expect(stdout).toEqual([]);
  });
});

describe('startPubsubEmulator options', () => {
  it('listens on loopback only', async () => {
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, host: '192.168.1.10' })).rejects.toThrow(/loopback only/);
    const emulator = await res.emulator({ host: '127.0.0.1' });
    expect(emulator.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('checks the subscription, topic, ack deadline and delivery attempts it is given', async () => {
    await expect(startPubsubEmulator({ subscription: 'projects/p/topics/t' })).rejects.toThrow(/expected projects\/P\/subscriptions\/S/);
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, topic: 'audit' })).rejects.toThrow(/expected projects\/P\/topics\/T/);
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, ackDeadlineSeconds: 601 })).rejects.toThrow(/ackDeadlineSeconds 601/);
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, maxDeliveryAttempts: 0 })).rejects.toThrow(/maxDeliveryAttempts 0/);
    await expect(startPubsubEmulator({ subscription: SUBSCRIPTION, faults: 'slow=1' })).rejects.toThrow(/unknown fault/);
  });

  it('takes a port and a topic of its own', async () => {
    const probe = await res.emulator();
    const port = Number(probe.endpoint.split(':')[1]);
    await probe.close();
    const emulator = await res.emulator({ port, topic: 'projects/test-project/topics/gke-audit' });
    expect(emulator.endpoint).toBe(`127.0.0.1:${port}`);
    expect(emulator.topic).toBe('projects/test-project/topics/gke-audit');
    const consumer = consume(res.subscription(emulator.endpoint));
    await res.client(emulator.endpoint).topic('gke-audit').publishMessage({ data: Buffer.from('{}') });
    await waitFor('the message', () => consumer.received.length === 1);
  });
});
