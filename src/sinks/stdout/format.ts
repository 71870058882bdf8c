// How the stdout sink and the rules sink's stdout alert output write to a terminal: JSON lines
// for programs (the default), or one readable line per event and alerts as Falco prints them.
import type { Writable } from 'node:stream';
import { goJSON } from '../../event/encode.js';
import { parseMicroTime, type AuditEvent } from '../../event/event.js';
import { alertMessage, alertToJSON, type Alert } from '../../rules/alert.js';

export const OUTPUT_FORMATS = ['json', 'text'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * Colour only for a person: when the stream is a terminal and NO_COLOR (no-color.org) is unset or
 * empty. A pipe or a file gets plain text.
 */
export function wantsColor(out: Writable, env: NodeJS.ProcessEnv = process.env): boolean {
  return (out as Writable & { isTTY?: boolean }).isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

// C0 and C1 controls (escape sequences, carriage returns, newlines), the line and paragraph
// separators, and the bidirectional overrides: any of them inside a user name or an object name
// could rewrite what the terminal shows or split one event into two lines.
// eslint-disable-next-line no-control-regex -- matching them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Event and alert text as the terminal may show it: every unsafe character as a \uXXXX escape. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SGR = { reset: '\u001b[0m', dim: '\u001b[2m', bold: '\u001b[1m', red: '\u001b[31m', green: '\u001b[32m', yellow: '\u001b[33m', cyan: '\u001b[36m' };

const paint = (text: string, style: string, color: boolean): string => (color && text.trim() !== '' ? `${style}${text}${SGR.reset}` : text);

interface Column {
  /** The width a column starts at. */
  min: number;
  /** It grows to fit longer values up to this; a longer value is printed whole and shifts that line. */
  max: number;
}

// time, cluster, user, verb, resource, namespace/name; the code comes last and is not padded.
const COLUMNS: readonly Column[] = [
  { min: 24, max: 24 },
  { min: 12, max: 32 },
  { min: 24, max: 64 },
  { min: 6, max: 16 },
  { min: 12, max: 40 },
  { min: 24, max: 80 },
];

/** The fields of the text line, unpadded and terminal-safe: time, cluster, user, verb, resource, namespace/name, code. */
export function eventFields(event: AuditEvent): [string, string, string, string, string, string, string] {
  const user = event.user?.username || '-';
  const impersonated = event.impersonatedUser?.username;
  const ref = event.objectRef;
  let resource: string;
  let object: string;
  if (ref?.resource) {
    resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
    // A create by generateName has no name in objectRef; the body, when logged, has the one given.
    object = `${ref.namespace || '-'}/${ref.name || bodyName(event.responseObject) || bodyName(event.requestObject) || '-'}`;
  } else {
    // A non-resource request (/healthz, /version, /apis): its path is what was asked for.
    resource = (event.requestURI ?? '').split('?', 1)[0] || '-';
    object = '-/-';
  }
  const code = event.responseStatus?.code;
  const fields: [string, string, string, string, string, string, string] = [
    eventTime(event),
    event.annotations?.cluster_name || '-',
    impersonated ? `${user} as ${impersonated}` : user,
    event.verb || '-',
    resource,
    object,
    typeof code === 'number' ? String(code) : '-',
  ];
  return fields.map(terminalSafe) as typeof fields;
}

function bodyName(body: unknown): string | undefined {
  const metadata = typeof body === 'object' && body !== null ? (body as { metadata?: unknown }).metadata : undefined;
  const name = typeof metadata === 'object' && metadata !== null ? (metadata as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** The event's time to the millisecond in UTC: stageTimestamp, else requestReceivedTimestamp. */
function eventTime(event: AuditEvent): string {
  for (const value of [event.stageTimestamp, event.requestReceivedTimestamp]) {
    const micros = typeof value === 'string' ? parseMicroTime(value) : undefined;
    if (micros !== undefined) return new Date(Number(micros / 1000n)).toISOString();
  }
  return '-';
}

function codeStyle(code: string): string {
  if (code.startsWith('2')) return SGR.green;
  if (code.startsWith('1') || code.startsWith('3')) return SGR.cyan;
  if (code.startsWith('4')) return SGR.yellow;
  if (code.startsWith('5')) return SGR.red;
  return SGR.dim;
}

/**
 * One line per event, the columns aligned: each starts at a readable width and widens to the
 * longest value seen so far (within a bound), so a stream settles into fixed columns. An event of
 * a stage other than ResponseComplete says its stage after the code, since the stages of one
 * request would otherwise print alike.
 */
export class EventTextFormatter {
  private readonly widths = COLUMNS.map((c) => c.min);

  constructor(private readonly color: boolean) {}

  line(event: AuditEvent): string {
    const fields = eventFields(event);
    const code = fields[6];
    const cells = fields.slice(0, 6).map((value, i) => {
      const column = COLUMNS[i]!;
      if (value.length > this.widths[i]! && value.length <= column.max) this.widths[i] = value.length;
      const padded = value.padEnd(this.widths[i]!);
      return i === 0 ? paint(padded, SGR.dim, this.color) : padded;
    });
    const stage = event.stage !== 'ResponseComplete' ? ` ${paint(terminalSafe(String(event.stage)), SGR.dim, this.color)}` : '';
    return `${cells.join('  ')}  ${paint(code, codeStyle(code), this.color)}${stage}`;
  }
}

const PRIORITY_STYLE: Record<string, string> = {
  Emergency: SGR.bold + SGR.red,
  Alert: SGR.bold + SGR.red,
  Critical: SGR.bold + SGR.red,
  Error: SGR.red,
  Warning: SGR.yellow,
  Notice: SGR.cyan,
  Informational: SGR.green,
  Debug: SGR.dim,
};

/**
 * An alert as Falco prints it in text mode: "<time of day>: <Priority> <message>", which is the
 * alert's `output` (src/rules/alert.ts); the priority is coloured on a terminal.
 */
export function alertText(alert: Alert, color: boolean): string {
  if (!color) return terminalSafe(alert.output);
  const time = alert.output.slice(0, alert.output.length - alertMessage(alert).length - alert.priority.length - 1);
  return `${time}${paint(alert.priority, PRIORITY_STYLE[alert.priority] ?? '', true)} ${terminalSafe(alertMessage(alert))}`;
}

/** Writes events in one format; text keeps its column widths across writes. */
export function eventWriter(format: OutputFormat, color: boolean): (event: AuditEvent) => string {
  if (format === 'json') return goJSON;
  const text = new EventTextFormatter(color);
  return (event) => text.line(event);
}

/** Writes alerts in one format: Falco's JSON alert, or Falco's text line. */
export function alertWriter(format: OutputFormat, color: boolean): (alert: Alert) => string {
  return format === 'json' ? alertToJSON : (alert) => alertText(alert, color);
}
