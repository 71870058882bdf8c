// The hostile-input suite: a `run` process with the chart's heap cap (256 MiB) takes every attack
// of test/helpers/hostile.ts, several at once, while an apiserver-like client sends well-formed
// batches beside them. The process must stay up, deliver each well-formed event exactly once, and
// leave no Secret value and no token in any file it wrote or on its stdout.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditWebhookClient } from '../src/sources/webhook/apiserver-client.js';
import type { AuditEvent } from '../src/event/event.js';
import { CLI, REPO, spawnNode } from './helpers/cli.js';
import { makeEvent, readJsonLines } from './helpers/events.js';
import { tempDir } from './helpers/fs.js';
import { attacks, type AttackOutcome } from './helpers/hostile.js';

const TOKEN = 'hostile-suite-token-0b6f31d2a8';
const SECRET = 'aG9zdGlsZS1zdWl0ZS1zZWNyZXQtdmFsdWU=';

/** A Secret create carrying SECRET: some well-formed traffic, and the neighbour of depth bombs. */
function secretCreate(n: number): AuditEvent {
  return makeEvent(n, {
    level: 'RequestResponse',
    verb: 'create',
    requestURI: '/api/v1/namespaces/default/secrets',
    objectRef: { resource: 'secrets', namespace: 'default', name: `s-${n}`, apiVersion: 'v1' },
    requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: `s-${n}` }, data: { password: SECRET } },
    responseObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: `s-${n}` }, data: { password: SECRET } },
  });
}

describe('hostile input against a running bridge with a 256 MiB heap', () => {
  it('stays up, delivers the well-formed traffic exactly once, and writes no Secret value or token anywhere', async () => {
    const dir = await tempDir('kab-hostile-');
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `
sources:
  - { name: apiserver, type: webhook, bearerTokenFile: ${join(dir, 'token')}, ackTimeout: 25s }
sinks:
  - { name: archive, type: file, path: ${join(dir, 'archive.jsonl')} }
  - { name: console, type: stdout }
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead-letter.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
log: { level: info }
`,
    );
    const child = spawnNode(['--max-old-space-size=256', CLI, 'run', '--config', config], { cwd: REPO, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      const onData = (): void => {
        const m = /"msg":"server listening".*?"port":(\d+)|"port":(\d+).*?"msg":"server listening"/.exec(stderr);
        if (m) resolve(Number(m[1] ?? m[2]));
      };
      child.stderr.on('data', onData);
      void exited.then((code) => reject(new Error(`bridge exited (${code}) before listening:\n${stderr}`)));
    });
    const target = { host: '127.0.0.1', port, path: '/audit/apiserver', token: TOKEN };

    // Well-formed traffic: 1,200 events in batches of 60, a quarter of them Secret creates.
    const good = Array.from({ length: 1200 }, (_, i) => (i % 4 === 0 ? secretCreate(10_000 + i) : makeEvent(10_000 + i)));
    const client = new AuditWebhookClient({ url: `http://127.0.0.1:${port}/audit/apiserver`, bearerToken: TOKEN, batchMaxSize: 60, initialBackoffMs: 200, maxAttempts: 20 });
    const sending = client.post(good);

    // Every attack, two rounds, each round all at once, beside the well-formed traffic.
    const all = attacks(secretCreate(1));
    const concurrent: AttackOutcome[] = [];
    for (let round = 0; round < 2; round++) concurrent.push(...(await Promise.all(Object.values(all).map((attack) => attack(target)))));
    const sent = await sending;
    expect(child.exitCode, `the bridge died:\n${stderr.slice(-2000)}`).toBeNull();
    expect(sent).toMatchObject({ delivered: good.length, dropped: 0 });
    // Side by side, a request may be asked to come back (503) while others hold the memory budget;
    // nothing else than the answers below may come back, and never a 5xx other than 503.
    expect(concurrent.filter((o) => typeof o.result === 'number' && o.result >= 500 && o.result !== 503)).toEqual([]);

    // Then each attack alone, for its exact answer.
    const alone = new Map<string, AttackOutcome['result']>();
    for (const [name, attack] of Object.entries(all)) alone.set(name, (await attack(target)).result);
    expect(Object.fromEntries(alone)).toEqual({
      anonymous: 401,
      'wrong token': 401,
      'memory bomb: 8 MiB of empty objects': 413,
      'memory bomb: 1 MiB of empty objects': 413,
      'problem bomb: a million bad items': 413, // more entries than maxEventsPerRequest, refused before any is looked at
      'depth bomb: nested arrays': 400,
      'depth bomb: every field': 200,
      'gzip bomb': 413,
      'not JSON': 400,
      'invalid UTF-8': 400,
      'wrong content type': 415,
      'no content type': 415,
      'malformed path': 400,
      'path traversal': 404,
      'long path': 431,
      'huge header': 431,
      'wrong method': 405,
      // The trickles give up before the server's 10 s and 30 s limits (tested with short limits in webhook-server.test.ts).
      'slow headers': 'closed',
      'slow body': 'closed',
      'many idle connections': 'closed',
    });
    expect(child.exitCode).toBeNull();

    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // Each well-formed event exactly once, Secret values redacted.
    const archived = readJsonLines(join(dir, 'archive.jsonl')) as AuditEvent[];
    const ids = archived.map((e) => e.auditID);
    expect(new Set(ids).size).toBe(ids.length);
    const goodIds = new Set(good.map((e) => e.auditID));
    expect(ids.filter((id) => goodIds.has(id)).sort()).toEqual([...goodIds].sort());
    // The depth bombs' deep events are rejects in the dead-letter file; the Secret beside them was scrubbed.
    const dead = readJsonLines(join(dir, 'dead-letter.jsonl')) as { kind: string; reason: string }[];
    expect(dead.filter((d) => d.kind === 'reject' && d.reason.includes('deeper than 256 levels')).length).toBeGreaterThanOrEqual(1);

    // No file the bridge wrote, nor its stdout or logs, holds a Secret value or the token.
    const files = readdirSync(dir).filter((f) => f !== 'token' && f !== 'config.yaml' && statSync(join(dir, f)).isFile());
    expect(files.sort()).toEqual(['archive.jsonl', 'checkpoints.dedupe.json', 'dead-letter.jsonl']);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text, f).not.toContain(SECRET);
      expect(text, f).not.toContain(TOKEN);
    }
    expect(stdout).not.toContain(SECRET);
    expect(stdout).not.toContain(TOKEN);
    expect(stderr).not.toContain(SECRET);
    expect(stderr).not.toContain(TOKEN);
  }, 180_000);
});
