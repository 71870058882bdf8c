// The gke-pubsub source in the built CLI (dist/cli/main.js): `emulator pubsub`, `run --once`, a
// graceful restart, a SIGKILL, and two bridge processes on one subscription. The emulator runs in
// this process (its stats say what was acked); the bridges post to webhook receivers here too.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isReject, validateEvent } from '../../../src/event/event.js';
import { decodeSinkMessage } from '../../../src/sources/gke-pubsub/decode.js';
import { maxOutstandingMessages } from '../../../src/sources/gke-pubsub/config.js';
import { gkePubsubPart } from '../../../src/sources/gke-pubsub/demo.js';
import { dedupeKey } from '../../../src/pipeline/dedupe.js';
import type { RunningPubsubEmulator } from '../../../src/sources/gke-pubsub/emulator/index.js';
import { CLI, exitOf, REPO, runCli, startCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/fs.js';
import { TestReceiver } from '../../helpers/http-receiver.js';
import { demoEvents } from '../../helpers/demo.js';
import { journaledDedupeKeys } from '../../helpers/pipeline.js';
import { entries, readJsonLines, Resources, sampleEntries, sleep, SUBSCRIPTION, waitFor } from './helpers.js';

const res = new Resources();
const children: ChildProcessWithoutNullStreams[] = [];
const receivers: TestReceiver[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const r of receivers.splice(0)) await r.close();
  await res.closeAll();
});

/** auditIDs in the order the receiver got them, one per event posted. */
function received(receiver: TestReceiver): string[] {
  return receiver.requests.flatMap((r) => [...r.text.matchAll(/"auditID":"([^"]+)"/g)].map((m) => m[1]!));
}

async function receiver(delayMs = 0): Promise<TestReceiver> {
  const r = await TestReceiver.start();
  if (delayMs > 0) r.respond = async () => (await sleep(delayMs), { status: 200 });
  receivers.push(r);
  return r;
}

/** A bridge config: one gke-pubsub source on the emulator, one webhook sink, files in `dir`. */
async function writeConfig(dir: string, emulator: RunningPubsubEmulator, url: string, source: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const config = {
    sources: [{ name: 'ps', type: 'gke-pubsub', subscription: SUBSCRIPTION, endpoint: emulator.endpoint, insecure: true, quietPeriod: '1s', ...source }],
    sinks: [{ name: 'out', type: 'webhook', url }],
    checkpoint: { path: join(dir, 'checkpoints.json'), dedupeSaveInterval: '1s' },
    deadLetter: { path: join(dir, 'dead-letter.jsonl') },
    server: { host: '127.0.0.1', port: 0 },
    ...extra,
  };
  const file = join(dir, 'config.yaml');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** `run --config FILE`, resolved once the source has started. */
async function startBridge(config: string): Promise<ChildProcessWithoutNullStreams> {
  const { child } = await startCli(['run', '--config', config], (log) => log.msg === 'source starting');
  children.push(child);
  return child;
}

function tally(ids: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const id of ids) out.set(id, (out.get(id) ?? 0) + 1);
  return out;
}

describe('emulator pubsub (CLI)', () => {
  it('prints its endpoint first and serves the data file to the subscription named', async () => {
    const child = spawn(process.execPath, [CLI, 'emulator', 'pubsub', '--port', '0', '--data', join(REPO, 'samples/gke/entries.json'), '--subscription', SUBSCRIPTION], { cwd: REPO });
    children.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const ready = JSON.parse(line) as { endpoint: string; subscription: string; messages: number };
    expect(Object.keys(ready)[0]).toBe('endpoint');
    expect(ready).toMatchObject({ endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown, subscription: SUBSCRIPTION, messages: 24 });
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
  });

  it('exits 2 with a message without --subscription, or with an unknown fault', async () => {
    const data = join(REPO, 'samples/gke/entries.json');
    const missing = await runCli(['emulator', 'pubsub', '--port', '0', '--data', data]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('emulator pubsub: --subscription projects/P/subscriptions/S is required\n');
    const fault = await runCli(['emulator', 'pubsub', '--port', '0', '--data', data, '--subscription', SUBSCRIPTION, '--faults', 'bogus=1']);
    expect(fault.code).toBe(2);
    expect(fault.stderr).toMatch(/^emulator pubsub: unknown fault "bogus"/);
  });
});

describe('run with a gke-pubsub source (CLI)', () => {
  it('run --once drains the subscription, waits the quiet period, acks everything and exits 0', async () => {
    const emulator = await res.emulator({ data: sampleEntries() });
    const dir = await tempDir();
    const out = join(dir, 'out.jsonl');
    const config = await writeConfig(dir, emulator, 'http://127.0.0.1:9/unused', { quietPeriod: '2s' }, { sinks: [{ name: 'out', type: 'file', path: out }] });
    const started = Date.now();
    const run = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(run.stderr).toContain('run --once: nothing new for the quiet period; finishing');
    const events = await readJsonLines<{ auditID: string }>(out);
    expect(events.map((e) => e.auditID).sort()).toEqual(sampleEntries().map((e) => e.insertId as string).sort());
    expect(emulator.stats()).toMatchObject({ acked: 24, outstanding: 0, ready: 0 });
    // No cursor: the subscription holds the position; the dedupe window is saved beside the checkpoint.
    const dedupe = JSON.parse(await readFile(join(dir, 'checkpoints.dedupe.json'), 'utf8')) as { sources: Record<string, string[]> };
    expect(dedupe.sources.ps).toHaveLength(24);
  });

  it('run --once on a subscription that does not exist exits 1 with the source, the answer and the fix', async () => {
    const emulator = await res.emulator({ data: entries(3) });
    const dir = await tempDir();
    const config = await writeConfig(dir, emulator, 'http://127.0.0.1:9/unused', { subscription: 'projects/test-project/subscriptions/no-such-sub' });
    const run = await runCli(['run', '--config', config, '--once'], { timeoutMs: 30_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^source ps: Pub\/Sub StreamingPull answered NOT_FOUND: .*Likely fix: check subscription projects\/test-project\/subscriptions\/no-such-sub: create it/m);
    expect(emulator.stats()).toMatchObject({ delivered: 0, ready: 3 });
  });

  it('a graceful restart (SIGTERM) repeats nothing and loses nothing', async () => {
    const emulator = await res.emulator({ data: entries(1500, 'r') });
    const dir = await tempDir();
    const sink = await receiver(20);
    // Short leases: what was on the wire when the stream closed comes back in seconds (see below).
    const config = await writeConfig(dir, emulator, sink.url, { maxBatchMessages: 50, minAckDeadline: '2s', maxAckDeadline: '2s' });
    const window = maxOutstandingMessages({ maxBatchMessages: 50 });
    const first = await startBridge(config);
    await waitFor('a third delivered', () => received(sink).length >= 500, 30_000);
    first.kill('SIGTERM');
    expect(await exitOf(first)).toBe(0);
    // Everything delivered was acknowledged before exit; what was taken but not delivered went back.
    expect(emulator.stats().acked).toBe(received(sink).length);
    // The stream closes at once, so messages the service had sent that the client had not read yet
    // stay leased until their deadline: never handed to the pipeline, never delivered, at most the
    // flow-control window.
    const delivered = new Set(received(sink));
    const onTheWire = emulator.snapshot().filter((m) => m.state === 'leased');
    expect(onTheWire.length).toBeLessThanOrEqual(window);
    for (const m of onTheWire) {
      const event = decodeSinkMessage(m.data, m.messageId);
      expect(isReject(event) ? event.reason : delivered.has(event.auditID), m.messageId).toBe(false);
    }
    await waitFor('the leases on the closed stream ran out', () => emulator.stats().outstanding === 0, 15_000);

    const second = await runCli(['run', '--config', config, '--once'], { timeoutMs: 60_000 });
    expect(second.code, second.stderr).toBe(0);
    const counts = tally(received(sink));
    expect(counts.size).toBe(1500);
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    expect(emulator.stats()).toMatchObject({ acked: 1500, outstanding: 0, ready: 0 });
  });

  it('a SIGKILL loses nothing; it repeats only delivered events whose ack had not reached Pub/Sub and whose key was neither saved nor journaled, at most maxOutstandingMessages', async ({ annotate }) => {
    const total = 3000;
    const emulator = await res.emulator({ data: entries(total, 'k') });
    const dir = await tempDir();
    const sink = await receiver(5);
    // Short leases so that what the killed process held comes back soon; batches of 100, the pipeline's 4 in flight.
    const config = await writeConfig(dir, emulator, sink.url, { maxBatchMessages: 100, minAckDeadline: '2s', maxAckDeadline: '2s' });
    const limit = (4 + 1) * 100;
    const first = await startBridge(config);
    await waitFor('deliveries under way', () => received(sink).length >= 1200, 30_000);
    first.kill('SIGKILL');
    await exitOf(first);
    const beforeRestart = new Set(received(sink));
    const ackedAtKill = emulator.stats().acked;
    const saved = new Set(
      (JSON.parse(await readFile(join(dir, 'checkpoints.dedupe.json'), 'utf8').catch(() => '{"sources":{}}')) as { sources: Record<string, string[]> }).sources.ps ?? [],
    );

    const journaled = await journaledDedupeKeys(dir, 'ps');

    const second = await runCli(['run', '--config', config, '--once'], { timeoutMs: 90_000 });
    expect(second.code, second.stderr).toBe(0);
    const counts = tally(received(sink));
    expect(counts.size).toBe(total);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    await annotate(
      `SIGKILL after ${beforeRestart.size} events delivered (${ackedAtKill} acked at Pub/Sub, ${saved.size} keys in the saved dedupe window, ${journaled.size} journaled): ${repeated.length} repeated`,
    );
    expect(repeated.length).toBeLessThanOrEqual(limit);
    expect(repeated.length).toBeLessThanOrEqual(beforeRestart.size - ackedAtKill);
    for (const id of repeated) {
      expect(beforeRestart.has(id), id).toBe(true);
      // Only what was delivered in the instant between the sink's answer and the journal write.
      const key = dedupeKey({ auditID: id, stage: 'ResponseComplete' });
      expect(saved.has(key) || journaled.has(key), id).toBe(false);
      expect(counts.get(id), id).toBe(2);
    }
    expect(emulator.stats()).toMatchObject({ acked: total, outstanding: 0, ready: 0 });
  });

  it('two bridge processes on one subscription share the work, nothing lost, nothing twice', async () => {
    const emulator = await res.emulator({ data: [] });
    const [a, b] = [await receiver(2), await receiver(2)];
    const bridges = [];
    for (const sink of [a, b]) bridges.push(await startBridge(await writeConfig(await tempDir(), emulator, sink.url, { maxBatchMessages: 50 })));
    await waitFor('both streams open', () => emulator.stats().streams === 2, 15_000);
    const published = entries(2000, 's');
    for (let i = 0; i < published.length; i += 100) {
      emulator.publish(published.slice(i, i + 100));
      await sleep(20);
    }
    await waitFor('all delivered', () => received(a).length + received(b).length >= 2000, 60_000);
    await waitFor('all acked', () => emulator.stats().acked === 2000, 15_000);
    for (const bridge of bridges) bridge.kill('SIGTERM');
    for (const bridge of bridges) expect(await exitOf(bridge)).toBe(0);

    const all = [...received(a), ...received(b)];
    expect(new Set(all).size).toBe(2000);
    expect(all).toHaveLength(2000);
    // Each took a fair part (the emulator hands ready messages to the open streams in turn).
    expect(received(a).length).toBeGreaterThan(400);
    expect(received(b).length).toBeGreaterThan(400);
  });
});

describe('demo part gke-pubsub', () => {
  it('streams the 24 GKE samples from the Pub/Sub emulator as events of cluster demo-gke-pubsub', async () => {
    const got = await demoEvents(gkePubsubPart, 24, 'the GKE samples on stdout');
    expect(got.every((e) => validateEvent(e).length === 0 && e.annotations?.cluster_name === 'demo-gke-pubsub' && e.annotations.project_id === 'demo-project')).toBe(true);
    expect(new Set(got.map((e) => e.auditID)).size).toBe(got.length);
  });
});
