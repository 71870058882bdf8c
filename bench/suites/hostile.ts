import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWebhookClient } from '../../src/sources/webhook/apiserver-client.js';
import type { AuditEvent } from '../../src/event/event.js';
import { attacks, type AttackOutcome } from '../../test/helpers/hostile.js';
import { BridgeProcess } from '../child.js';
import { writeBridgeConfig } from '../bridge-config.js';
import { perSecondFigure, withBaseline, type Figure, type Suite } from '../harness.js';
import { BenchReceiver } from '../receiver.js';
import { auditId, eventText, workload } from '../workload.js';

const TOKEN = 'bench-hostile-token';
const HEAP_CAP = ['--max-old-space-size=256'];
const TARGET_MB = 256;
/** Between two requests of one attack loop. */
const ATTACK_PAUSE_MS = 100;

interface Run {
  /** From the first request sent to the last one answered (every event delivered by then). */
  seconds: number;
  /** Events the bridge accepted (the client drops what it gave up on). */
  delivered: number;
  peakRssMb: number;
  attacks: AttackOutcome[];
}

/**
 * Issue 14's figure: a bridge with the chart's heap cap takes well-formed audit batches from an
 * apiserver-like client while every attack of test/helpers/hostile.ts arrives over and over (each
 * kind in a loop of its own). Reported: the bridge's peak RSS, and the well-formed delivery rate as
 * a ratio to the same traffic alone, measured in the same run.
 */
export const hostileSuite: Suite = {
  name: 'hostile',
  description: 'peak RSS of a bridge (256 MiB heap) under every hostile request at once, and the rate of well-formed events delivered beside them vs alone',
  async run(ctx) {
    const w = await workload(ctx.quick);
    const count = ctx.quick ? 6000 : 60_000;
    const events = (offset: number): AuditEvent[] =>
      Array.from({ length: count }, (_, i) => ({ ...(JSON.parse(eventText(w.templates, i)) as AuditEvent), auditID: auditId(offset + i) }));

    const log = (m: string): void => ctx.log(m);
    const alone = await drive(events(0), false, log);
    const attacked = await drive(events(count), true, log);
    const answered = new Map<string, number>();
    for (const a of attacked.attacks) answered.set(`${a.result}`, (answered.get(`${a.result}`) ?? 0) + 1);
    ctx.log(`alone: ${count} events in ${alone.seconds.toFixed(1)} s, peak RSS ${alone.peakRssMb.toFixed(0)} MB`);
    ctx.log(`under attack: ${count} events in ${attacked.seconds.toFixed(1)} s, peak RSS ${attacked.peakRssMb.toFixed(0)} MB, ${attacked.attacks.length} hostile requests answered ${JSON.stringify(Object.fromEntries(answered))}`);

    const figures: Figure[] = [
      withBaseline(
        { key: 'hostile.peak_rss_mb', label: `bridge peak RSS under attack (heap cap 256 MiB, ${attacked.attacks.length} hostile requests)`, value: attacked.peakRssMb, unit: 'MB' },
        `target ${TARGET_MB} MB`,
        TARGET_MB,
      ),
      { key: 'hostile.peak_rss_alone_mb', label: '  the same traffic alone: peak RSS', value: alone.peakRssMb, unit: 'MB' },
    ];
    const aloneRate = perSecondFigure({ key: 'hostile.events_per_s_alone', label: '  the same traffic alone: events delivered', unit: 'events/s' }, alone.delivered, alone.seconds);
    figures.push(
      perSecondFigure({ key: 'hostile.events_per_s', label: 'well-formed events delivered while under attack', unit: 'events/s' }, attacked.delivered, attacked.seconds, { label: 'the same traffic alone', figure: aloneRate }),
      aloneRate,
    );
    return figures;
  },
};

/** One bridge process: the events sent by an apiserver-like client, with or without the attacks beside them. */
async function drive(events: readonly AuditEvent[], underAttack: boolean, log: (m: string) => void): Promise<Run> {
  const receiver = await new BenchReceiver().start();
  const tokenDir = mkdtempSync(join(tmpdir(), 'kab-bench-token-'));
  writeFileSync(join(tokenDir, 'token'), `${TOKEN}\n`);
  const { file, dir } = writeBridgeConfig([{ name: 'apiserver', type: 'webhook', bearerTokenFile: join(tokenDir, 'token') }], receiver.url, { log: { level: 'info' } });
  const bridge = BridgeProcess.start(file, {}, HEAP_CAP);
  const outcomes: AttackOutcome[] = [];
  let stopAttacks = false;
  try {
    const port = await bridge.port();
    const target = { host: '127.0.0.1', port, path: '/audit/apiserver', token: TOKEN };
    // Each kind of attack in a loop of its own, one request at a time with a short pause: every
    // kind keeps arriving, and the figure is not only what flooding two shared cores costs.
    const loops = underAttack
      ? Object.values(attacks(events[0]!)).map(async (attack) => {
          while (!stopAttacks) {
            outcomes.push(await attack(target));
            await new Promise((r) => setTimeout(r, ATTACK_PAUSE_MS));
          }
        })
      : [];
    const client = new AuditWebhookClient({ url: `http://127.0.0.1:${port}/audit/apiserver`, bearerToken: TOKEN, batchMaxSize: 400, initialBackoffMs: 100, maxAttempts: 50 });
    const started = performance.now();
    const sent = await client.post(events);
    const seconds = (performance.now() - started) / 1000;
    stopAttacks = true;
    await Promise.all(loops);
    if (sent.dropped > 0 || receiver.events < events.length) log(`warning: ${sent.dropped} events dropped, ${receiver.events} received of ${events.length}`);
    return { seconds, delivered: events.length - sent.dropped, peakRssMb: bridge.peakRssMb(), attacks: outcomes };
  } finally {
    stopAttacks = true;
    await bridge.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(tokenDir, { recursive: true, force: true });
  }
}
