// The status page at / (the README's Operations section): what a person on call reads first. Plain
// HTML rendered here, refreshed by the browser, with its style inline and nothing loaded from
// anywhere else; the Content-Security-Policy below forbids scripts and every outside resource, so a
// value that slipped past the escaping could still not run or call out.
//
// What it may show is what the metrics and the logs already show: names, counts, times, reasons and
// positions. Never an event, a record or an alert's output (they may hold Secret values), never a
// config value other than a component's name, and a URL only as its origin (src/pipeline/status.ts).
import type { ServerResponse } from 'node:http';
import type { Health } from '../pipeline/health.js';
import { cleanText, type AlertNote, type CursorSummary, type DeadLetterNote, type StatusBoard } from '../pipeline/status.js';
import type { Metrics } from '../telemetry/metrics.js';

export const REFRESH_SECONDS = 5;

/** A source whose newest delivered event is older than this (plus three poll intervals) is shown as lagging. */
const LAG_WARN_SECONDS = 300;

export interface SourceView {
  name: string;
  pollIntervalMs: number | undefined;
  cursor: CursorSummary | undefined;
  cursorAt: number | undefined;
  lagSeconds: number | undefined;
  received: number;
  rejected: number;
  lastSuccess: number | undefined;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  stopped: boolean;
}

export interface SinkView {
  name: string;
  /** Failing for longer than its threshold: what /readyz reports. */
  down: boolean;
  failingSince: number | undefined;
  lastError: string | undefined;
  retries: number;
  alertRetries: number;
  delivered: number;
  deadLettered: number;
}

export interface StatusView {
  now: number;
  ready: boolean;
  problems: string[];
  sources: SourceView[];
  sinks: SinkView[];
  deadLetters: DeadLetterNote[];
  totals: { rejects: number; refusals: number };
  alertsByRule: { rule: string; priority: string; count: number }[];
  recentAlerts: AlertNote[];
}

type Labelled = { get(): Promise<{ values: { value: number; labels: Partial<Record<string, string | number>> }[] }> };

/** Sums a metric's values by one label (and a filter on the others). */
async function byLabel(metric: Labelled, label: string, where: (labels: Partial<Record<string, string | number>>) => boolean = () => true): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const { value, labels } of (await metric.get()).values) {
    const key = labels[label];
    if (key === undefined || !where(labels)) continue;
    out.set(String(key), (out.get(String(key)) ?? 0) + value);
  }
  return out;
}

/** Reads the board, the metrics and readiness into what the page shows. */
export async function statusView(board: StatusBoard, metrics: Metrics, health: Health): Promise<StatusView> {
  const snap = board.snapshot();
  const { ready, problems } = health.readiness();
  const [lag, received, rejected, retries, alertRetries, delivered, deadLettered] = await Promise.all([
    byLabel(metrics.sourceLag, 'source'),
    byLabel(metrics.eventsReceived, 'source'),
    byLabel(metrics.eventsRejected, 'source'),
    byLabel(metrics.sinkRetries, 'sink'),
    byLabel(metrics.alertRetries, 'sink'),
    byLabel(metrics.eventsDelivered, 'sink'),
    byLabel(metrics.deadLettered, 'component', (l) => l.kind === 'refused'),
  ]);
  const alertCounts = new Map<string, { rule: string; priority: string; count: number }>();
  for (const { value, labels } of (await metrics.alertsRaised.get()).values) {
    const rule = String(labels.rule ?? '');
    const priority = String(labels.priority ?? '');
    const key = `${rule}\u0000${priority}`;
    const entry = alertCounts.get(key) ?? { rule: cleanText(rule, 120), priority: cleanText(priority, 20), count: 0 };
    entry.count += value;
    alertCounts.set(key, entry);
  }
  return {
    now: snap.now,
    ready,
    problems: problems.map((p) => cleanText(p, 400)),
    sources: snap.sources.map((s) => ({
      name: s.name,
      pollIntervalMs: s.pollIntervalMs,
      cursor: s.cursor,
      cursorAt: s.cursorAt,
      lagSeconds: lag.get(s.name),
      received: received.get(s.name) ?? 0,
      rejected: rejected.get(s.name) ?? 0,
      lastSuccess: s.lastSuccess,
      lastError: s.lastError,
      lastErrorAt: s.lastErrorAt,
      stopped: s.stopped,
    })),
    sinks: snap.sinks.map((s) => ({
      name: s.name,
      down: s.failingSince !== undefined && snap.now - s.failingSince > s.thresholdMs,
      failingSince: s.failingSince,
      lastError: s.lastError,
      retries: retries.get(s.name) ?? 0,
      alertRetries: alertRetries.get(s.name) ?? 0,
      delivered: delivered.get(s.name) ?? 0,
      deadLettered: deadLettered.get(s.name) ?? 0,
    })),
    deadLetters: [...snap.rejects, ...snap.refusals].sort((a, b) => b.at - a.at),
    totals: { rejects: snap.totals.rejects, refusals: snap.totals.refusals },
    alertsByRule: [...alertCounts.values()].sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule)),
    recentAlerts: snap.alerts,
  };
}

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

export function sendStatusPage(res: ServerResponse, html: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, { ...HEADERS, 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const e = (text: string | number): string => escapeHtml(String(text));

export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A duration as a person says it: "45 s", "3 min 4 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const plural = (n: number, one: string, many: string): string => `${count(n)} ${n === 1 ? one : many}`;

function when(ms: number | undefined, now: number): string {
  if (ms === undefined) return '<span class="muted">never</span>';
  return `<span class="nowrap"><time datetime="${e(new Date(ms).toISOString())}">${e(formatTime(ms))}</time> <span class="muted">(${e(formatDuration(now - ms))} ago)</span></span>`;
}

function cursorCell(s: SourceView, now: number): string {
  if (!s.cursor) return '<span class="muted">none committed yet</span>';
  const committed = s.cursorAt === undefined ? '' : `<div class="muted small">committed ${e(formatDuration(now - s.cursorAt))} ago</div>`;
  if (s.cursor.timeMs === undefined) return `${e(s.cursor.text)}${committed}`;
  return `${e(s.cursor.text)} <time datetime="${e(new Date(s.cursor.timeMs).toISOString())}">${e(formatTime(s.cursor.timeMs))}</time>${committed}`;
}

function lagging(s: SourceView): boolean {
  return s.lagSeconds !== undefined && s.lagSeconds > LAG_WARN_SECONDS + (3 * (s.pollIntervalMs ?? 0)) / 1000;
}

function sourceState(s: SourceView): { cls: string; text: string } {
  if (s.stopped) return { cls: 'bad', text: 'stopped' };
  if (s.lastError !== undefined && (s.lastSuccess === undefined || (s.lastErrorAt ?? 0) > s.lastSuccess)) return { cls: 'bad', text: 'failing' };
  if (lagging(s)) return { cls: 'warn', text: 'lagging' };
  if (s.pollIntervalMs !== undefined && s.lastSuccess === undefined) return { cls: 'muted', text: 'not polled yet' };
  return { cls: 'ok', text: 'ok' };
}

function sourceRow(s: SourceView, now: number): string {
  const state = sourceState(s);
  const lag = s.lagSeconds === undefined ? '<span class="muted">nothing delivered yet</span>' : `${e(formatDuration(s.lagSeconds * 1000))}`;
  const error =
    s.lastError === undefined
      ? '<span class="muted">none</span>'
      : `<div class="err">${e(s.lastError)}</div><div class="muted small">${when(s.lastErrorAt, now)}</div>`;
  const polled = s.pollIntervalMs === undefined && s.lastSuccess === undefined ? '<span class="muted">not polled (push)</span>' : when(s.lastSuccess, now);
  return (
    `<tr data-source="${e(s.name)}" data-state="${e(state.text)}" data-lagging="${lagging(s)}">` +
    `<th scope="row">${e(s.name)}</th>` +
    `<td><span class="badge ${state.cls}">${e(state.text)}</span></td>` +
    `<td>${cursorCell(s, now)}</td>` +
    `<td class="num${lagging(s) ? ' warn-text' : ''}">${lag}</td>` +
    `<td class="num">${e(count(s.received))}</td>` +
    `<td class="num">${e(count(s.rejected))}</td>` +
    `<td>${polled}</td>` +
    `<td>${error}</td></tr>`
  );
}

function sinkRow(s: SinkView, now: number): string {
  const state =
    s.failingSince === undefined
      ? '<span class="badge ok">ok</span>'
      : `<span class="badge ${s.down ? 'bad' : 'warn'}">${s.down ? 'failing' : 'retrying'}</span> <span>failing since ${when(s.failingSince, now)}</span>`;
  const error = s.lastError === undefined ? '<span class="muted">none</span>' : `<div class="err">${e(s.lastError)}</div>`;
  const retries = s.alertRetries > 0 ? `${e(count(s.retries))} <span class="muted small">+ ${e(count(s.alertRetries))} alert</span>` : e(count(s.retries));
  return (
    `<tr data-sink="${e(s.name)}" data-state="${s.failingSince === undefined ? 'ok' : 'failing'}">` +
    `<th scope="row">${e(s.name)}</th>` +
    `<td>${state}</td>` +
    `<td class="num">${retries}</td>` +
    `<td class="num">${e(count(s.delivered))}</td>` +
    `<td class="num">${e(count(s.deadLettered))}</td>` +
    `<td>${error}</td></tr>`
  );
}

function deadLetterRow(d: DeadLetterNote, now: number): string {
  const kind = d.kind === 'reject' ? 'reject' : d.kind === 'alert' ? 'alerts refused' : 'events refused';
  const position = [
    d.ref === undefined ? '' : e(d.ref),
    d.event === undefined ? '' : `auditID ${e(d.event.auditID)} <span class="muted">${e(d.event.stage)}</span>`,
  ]
    .filter(Boolean)
    .join('<br>');
  return (
    `<tr data-dead-letter="${e(d.kind)}"><td>${when(d.at, now)}</td><td>${e(kind)}</td><td>${e(d.from)}</td>` +
    `<td class="num">${e(count(d.count))}</td><td>${e(d.reason)}</td><td>${position || '<span class="muted">—</span>'}</td></tr>`
  );
}

function table(head: string[], rows: string[], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${e(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th scope="col">${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1c2330;--muted:#6a7383;--line:#d9dee6;--bg:#fff;--head:#f4f6f9;--ok:#1d7a3a;--warn:#9a6200;--bad:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e4e8ee;--muted:#98a2b3;--line:#333c4a;--bg:#141920;--head:#1c232d;--ok:#5cc37e;--warn:#e3a33b;--bad:#ff6b60}}
body{margin:0;padding:1.2rem 1.6rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.35rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.4rem 1rem;border-bottom:1px solid var(--line);padding-bottom:.7rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid var(--line)}
thead th{background:var(--head);font-weight:600;font-size:.85rem}tbody th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}.small{font-size:.85rem}.err{color:var(--bad);word-break:break-word;max-width:42rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.ok{color:var(--ok)}.warn,.warn-text{color:var(--warn)}.bad{color:var(--bad)}
.ready{color:var(--ok);font-weight:600}.not-ready{color:var(--bad);font-weight:600}
ul.problems{margin:.6rem 0 0;padding-left:1.2rem;color:var(--bad)}
footer{margin-top:1.8rem;font-size:.8rem;color:var(--muted)}
time,.nowrap{white-space:nowrap}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(26rem,1fr));gap:0 2rem}
h3{font-size:.9rem;margin:.2rem 0 .4rem;color:var(--muted);font-weight:600}
`;

/** The whole page; every value in it is escaped here. */
export function renderStatusPage(view: StatusView): string {
  const { now } = view;
  const readiness = view.ready
    ? '<span class="ready" id="readiness">ready</span>'
    : `<span class="not-ready" id="readiness">not ready</span>`;
  const problems = view.problems.length === 0 ? '' : `<ul class="problems">${view.problems.map((p) => `<li>${e(p)}</li>`).join('')}</ul>`;
  const sources = table(
    ['source', 'state', 'position (committed cursor)', 'lag', 'events in', 'rejected', 'last successful poll', 'last error'],
    view.sources.map((s) => sourceRow(s, now)),
    'No source is running.',
  );
  const sinks = table(
    ['sink', 'state', 'retries', 'delivered', 'dead-lettered', 'last error'],
    view.sinks.map((s) => sinkRow(s, now)),
    'No sink is configured.',
  );
  const deadLetters = table(
    ['time', 'kind', 'from', 'count', 'reason', 'position'],
    view.deadLetters.map((d) => deadLetterRow(d, now)),
    'Nothing has gone to the dead-letter file since the start.',
  );
  const byRule = table(
    ['rule', 'priority', 'alerts'],
    view.alertsByRule.map((a) => `<tr><td>${e(a.rule)}</td><td>${e(a.priority)}</td><td class="num">${e(count(a.count))}</td></tr>`),
    'No alert since the start.',
  );
  const recent = table(
    ['time', 'rule', 'priority', 'sink'],
    view.recentAlerts.map((a) => `<tr><td>${when(a.at, now)}</td><td>${e(a.rule)}</td><td>${e(a.priority)}</td><td>${e(a.sink)}</td></tr>`),
    'None yet.',
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${view.ready ? '' : '(not ready) '}kube-audit-bridge status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>kube-audit-bridge</h1>${readiness}<span class="muted small">${e(formatTime(now))} · refreshes every ${REFRESH_SECONDS} s</span></header>
${problems}
<section id="sources"><h2>Sources</h2>${sources}</section>
<section id="sinks"><h2>Sinks</h2>${sinks}</section>
<section id="dead-letters"><h2>Rejects and dead letters <span class="muted small">(${e(plural(view.totals.rejects, 'reject', 'rejects'))} and ${e(plural(view.totals.refusals, 'refusal', 'refusals'))} since the start; the last ${e(String(view.deadLetters.length))} shown)</span></h2>${deadLetters}</section>
<section id="alerts"><h2>Alerts</h2><div class="cols"><div><h3>By rule, since the start</h3>${byRule}</div><div><h3>The last ${e(String(view.recentAlerts.length))}</h3>${recent}</div></div></section>
<footer>Lag: now minus the stageTimestamp of the newest event delivered. Positions, counts and the first words of reasons only: events, records and alert texts are never shown here; the dead-letter file has the whole reasons. <a href="readyz">/readyz</a> · <a href="metrics">/metrics</a></footer>
</body>
</html>
`;
}
