// The stdout sink's text format (src/sinks/stdout/format.ts) on the sample events, the rules
// sink's stdout alerts in Falco's text form, and a Secret through a real bridge with format text.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../../src/bridge.js';
import { parseConfig } from '../../../src/config/load.js';
import type { AuditEvent } from '../../../src/event/event.js';
import { toNativeEvent } from '../../../src/event/parse.js';
import type { Alert } from '../../../src/rules/alert.js';
import { StdoutAlertOutput } from '../../../src/sinks/rules/outputs.js';
import { rulesSinkSchema } from '../../../src/sinks/rules/config.js';
import { stdoutSinkSchema } from '../../../src/sinks/stdout/config.js';
import { alertText, EventTextFormatter, terminalSafe, wantsColor } from '../../../src/sinks/stdout/format.js';
import { StdoutSink } from '../../../src/sinks/stdout/sink.js';
import { AuditWebhookClient } from '../../../src/sources/webhook/apiserver-client.js';
import { silentLogger } from '../../../src/telemetry/logger.js';
import { makeEvent, SAMPLES } from '../../helpers/events.js';
import { tempDir } from '../../helpers/fs.js';
import { eventually } from '../../helpers/pipeline.js';
import { MARK } from '../../helpers/secret-shapes.js';

/** Every native sample event (the malformed {"kind": 0} aside), as the webhook source reads it, with its file. */
function sampleEvents(): { file: string; event: AuditEvent }[] {
  const found: { file: string; event: AuditEvent }[] = [];
  for (const folder of ['falco-trace-files', 'canonical-smoke-alerts']) {
    const dir = join(SAMPLES, 'k8s-events', folder);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'fal_01_003.json').sort()) {
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => l.trim() !== '')) {
        const result = toNativeEvent(JSON.parse(line));
        if (!result.ok) throw new Error(`${file}: ${JSON.stringify(result.problems)}`);
        found.push({ file: `${folder}/${file}`, event: { ...result.event, annotations: { ...result.event.annotations, cluster_name: 'lab-1' } } });
      }
    }
  }
  return found;
}

/**
 * What each column should say, worked out from the event here rather than by the formatter: the
 * time in UTC to the millisecond, cluster, user, verb, resource[/subresource], namespace/name, code.
 */
function expectedColumns(e: AuditEvent): string[] {
  const body = (o: unknown): string | undefined => (o as { metadata?: { name?: string } } | undefined)?.metadata?.name;
  const ref = e.objectRef;
  return [
    new Date(e.stageTimestamp).toISOString(),
    e.annotations?.cluster_name ?? '-',
    e.user.username ?? '-',
    e.verb,
    ref?.resource ? `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}` : e.requestURI.split('?')[0]!,
    ref?.resource ? `${ref.namespace ?? '-'}/${ref.name ?? body(e.responseObject) ?? body(e.requestObject) ?? '-'}` : '-/-',
    e.responseStatus?.code === undefined ? '-' : String(e.responseStatus.code),
  ];
}

/** A line cut at its runs of two or more spaces (no sample value holds two spaces in a row). */
const columns = (line: string): string[] => line.split(/ {2,}/);

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;

describe('stdout sink, format: text', () => {
  const samples = sampleEvents();

  it('renders every sample event as one line with its time, cluster, user, verb, resource, namespace/name and code', () => {
    // 35 Falco trace events and 5 Canonical examples.
    expect(samples).toHaveLength(40);
    const text = new EventTextFormatter(false);
    for (const { file, event } of samples) {
      const line = text.line(event);
      expect(line, file).not.toMatch(/[\n\r]/);
      const expected = expectedColumns(event);
      if (event.stage !== 'ResponseComplete') expected[6] = `${expected[6]} ${event.stage}`;
      expect(columns(line), file).toEqual(expected);
    }
  });

  it('covers the shapes of the samples: pods/exec on ResponseStarted, a RequestReceived without a code, cluster-scoped objects, a name only in the body', () => {
    const text = new EventTextFormatter(false);
    const lineOf = (file: string): string => text.line(samples.find((s) => s.file.endsWith(file))!.event);
    expect(columns(lineOf('exec_pod.json')).slice(3)).toEqual(['create', 'pods/exec', 'default/nginx-deployment-7998647bdf-phvq7', '101 ResponseStarted']);
    expect(columns(lineOf('canonical_k8s_serviceaccount_created_requestreceived.json')).slice(3)).toEqual(['create', 'serviceaccounts', 'kube-system/-', '- RequestReceived']);
    expect(columns(lineOf('create_clusterrole.json')).slice(3)).toEqual(['create', 'clusterroles', '-/some-reader', '201']);
    expect(columns(lineOf('create_secret.json'))).toEqual(['2020-04-21T17:57:05.548Z', 'lab-1', 'minikube-user', 'create', 'secrets', 'default/example-secret', '201']);
    // A non-resource request, an impersonation.
    const healthz = makeEvent(1, { requestURI: '/healthz?verbose=1', objectRef: undefined, verb: 'get', impersonatedUser: { username: 'bob' } });
    expect(columns(text.line(healthz)).slice(2, 6)).toEqual(['alice@example.com as bob', 'get', '/healthz', '-/-']);
    // A pod created by generateName: objectRef has no name, the logged response has it.
    const generated = makeEvent(2, { objectRef: { resource: 'pods', namespace: 'web' }, verb: 'create', responseObject: { metadata: { name: 'web-7c9f-x2k4q' } } });
    expect(columns(text.line(generated))[5]).toBe('web/web-7c9f-x2k4q');
  });

  it('aligns the columns: once the widths have settled, every column of every line starts at the same place', () => {
    const text = new EventTextFormatter(false);
    for (const { event } of samples) text.line(event);
    const lines = samples.map(({ event }) => text.line(event));
    const starts = (line: string): number[] => [...line.matchAll(/(?<= {2})\S/g)].map((m) => m.index).slice(0, 6);
    for (const line of lines) expect(starts(line)).toEqual(starts(lines[0]!));
    // The first column is the time, 24 characters, then two spaces.
    expect(starts(lines[0]!)[0]).toBe(26);
  });

  it('prints plain text to a pipe, colour only to a terminal without NO_COLOR', () => {
    const pipe = new PassThrough();
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    expect(wantsColor(pipe, {})).toBe(false);
    expect(wantsColor(tty, {})).toBe(true);
    expect(wantsColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor(tty, { NO_COLOR: '' })).toBe(true);
    const plain = new EventTextFormatter(false);
    const coloured = new EventTextFormatter(true);
    for (const { file, event } of samples) {
      const p = plain.line(event);
      const c = coloured.line(event);
      expect(p, file).not.toContain('\u001b');
      expect(c, file).toMatch(SGR);
      expect(c.replace(SGR, ''), file).toBe(p);
    }
  });

  it('writes control characters, line separators and bidirectional overrides in a value as escapes, so one event is one line', () => {
    const hostile = makeEvent(3, {
      user: { username: 'eve\u001b[2J\u001b[31m' },
      objectRef: { resource: 'configmaps', namespace: 'default', name: 'a\nb\r\u2028c\u202egnp.exe' },
      annotations: { cluster_name: 'lab\u0007' },
    });
    const line = new EventTextFormatter(false).line(hostile);
    // eslint-disable-next-line no-control-regex -- none may be left
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(columns(line).slice(1, 3)).toEqual(['lab\\u0007', 'eve\\u001b[2J\\u001b[31m']);
    expect(columns(line)[5]).toBe('default/a\\u000ab\\u000d\\u2028c\\u202egnp.exe');
    expect(terminalSafe('plain text, ünïcode ✓')).toBe('plain text, ünïcode ✓');
  });

  it('StdoutSink: json stays the default (one JSON Event per line); text writes the formatter\'s lines', async () => {
    expect(stdoutSinkSchema.parse({ name: 'console', type: 'stdout' })).toEqual({ name: 'console', type: 'stdout', format: 'json' });
    expect(stdoutSinkSchema.safeParse({ name: 'console', type: 'stdout', format: 'yaml' }).success).toBe(false);
    const events = samples.slice(0, 5).map((s) => s.event);
    const write = async (sink: (out: PassThrough) => StdoutSink): Promise<string[]> => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (d: Buffer) => (text += d.toString()));
      await sink(out).write(events);
      return text.split('\n').filter(Boolean);
    };
    const json = await write((out) => new StdoutSink('console', out));
    expect(json.map((l) => (JSON.parse(l) as AuditEvent).auditID)).toEqual(events.map((e) => e.auditID));
    const formatter = new EventTextFormatter(false);
    expect(await write((out) => new StdoutSink('console', out, 'text'))).toEqual(events.map((e) => formatter.line(e)));
  });
});

describe('rules sink, stdout alert output, format: text', () => {
  const alert: Alert = {
    auditID: 'a362d22b-db3c-4590-9505-23782f12925f',
    cluster: 'prod-1',
    hostname: 'kab-0',
    output: '14:09:12.581541000: Warning Privileged pod created (user=system:serviceaccount:kube-system:replicaset-controller pod=nginx ns=default)',
    output_fields: { 'user.username': 'system:serviceaccount:kube-system:replicaset-controller', 'evt.time': 1540476552581541000n },
    priority: 'Warning',
    rule: 'Privileged pod created',
    source: 'k8s_audit',
    tags: ['k8s'],
    time: '2018-10-25T14:09:12.581541000Z',
  };

  it("takes format (json by default) and writes Falco's text line, the alert's output", async () => {
    const parsed = rulesSinkSchema.parse({ name: 'r', type: 'rules', rules: ['x.yaml'], alerts: [{ type: 'stdout' }, { type: 'stdout', format: 'text' }] });
    expect(parsed.alerts).toEqual([
      { type: 'stdout', format: 'json' },
      { type: 'stdout', format: 'text' },
    ]);
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    await new StdoutAlertOutput('stdout', undefined, out, 'text').send([alert, { ...alert, priority: 'Notice', output: alert.output.replace('Warning', 'Notice') }]);
    expect(text).toBe(`${alert.output}\n${alert.output.replace('Warning', 'Notice')}\n`);
    await new StdoutAlertOutput('stdout', undefined, out, 'json').send([alert]);
    expect(JSON.parse(text.split('\n')[2]!)).toMatchObject({ rule: alert.rule, output: alert.output, output_fields: { 'evt.time': 1540476552581541000 } });
  });

  it('colours the priority on a terminal only, and escapes control characters in the message', () => {
    const coloured = alertText(alert, true);
    expect(coloured).toMatch(SGR);
    expect(coloured.replace(SGR, '')).toBe(alert.output);
    const hostile = { ...alert, output: `${alert.output} \u001b]0;pwned\u0007\nsecond line` };
    expect(alertText(hostile, false)).toBe(`${alert.output} \\u001b]0;pwned\\u0007\\u000asecond line`);
    expect(alertText(hostile, true).replace(SGR, '')).toBe(alertText(hostile, false));
  });
});

describe('a Secret through the pipeline with format text', () => {
  it('reaches the text outputs scrubbed: neither the event line nor the alert line holds a secret value', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'token'), 'text-format-token\n');
    // A rule whose message prints Secret values: only scrubbing before the sinks keeps them out.
    await writeFile(
      join(dir, 'rules.yaml'),
      `rules:
  - name: Secret written
    condition: jpath("objectRef.resource") = "secrets" and jpath("verb") = "create"
    message: Secret written (name={objectRef.name} password={requestObject.data.password} token={responseObject.stringData.token} user={user.username})
    priority: WARNING
`,
    );
    const config = parseConfig(
      `
sources:
  - { name: lab, type: webhook, cluster: lab-1, bearerTokenFile: ${join(dir, 'token')} }
sinks:
  - { name: console, type: stdout, format: text }
  - name: detections
    type: rules
    rules: [${join(dir, 'rules.yaml')}]
    alerts: [{ type: stdout, format: text }]
checkpoint: { path: ${join(dir, 'checkpoints.json')} }
deadLetter: { path: ${join(dir, 'dead.jsonl')} }
server: { host: 127.0.0.1, port: 0 }
`,
      'text.yaml',
      {},
    );
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const bridge = await Bridge.create(config, { logger: silentLogger(), stdout: out });
    try {
      const { port } = await bridge.start();
      // The sample Secret create, logged at RequestResponse: its values in data and stringData.
      const sample = toNativeEvent(JSON.parse(readFileSync(join(SAMPLES, 'k8s-events/falco-trace-files/create_secret.json'), 'utf8').trim()));
      if (!sample.ok) throw new Error('create_secret.json does not parse');
      const password = `${MARK}hunter2`;
      const token = `${MARK}tok-3f9a`;
      const secret = {
        ...sample.event,
        level: 'RequestResponse' as const,
        requestObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'example-secret', namespace: 'default' }, data: { password: Buffer.from(password).toString('base64') } },
        responseObject: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'example-secret', namespace: 'default' }, stringData: { token } },
      };
      const result = await new AuditWebhookClient({ url: `http://127.0.0.1:${port}/audit/lab`, bearerToken: 'text-format-token' }).post([secret]);
      expect(result).toMatchObject({ delivered: 1 });
      await eventually(() => text.split('\n').filter(Boolean).length >= 2, 10_000, 'the event line and the alert line');
    } finally {
      await bridge.stop();
    }
    const lines = text.split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    const eventLine = lines.find((l) => /^\d{4}-/.test(l))!;
    const alertLine = lines.find((l) => /^\d\d:\d\d:\d\d\.\d{9}: Warning /.test(l))!;
    expect(columns(eventLine)).toEqual(['2020-04-21T17:57:05.548Z', 'lab-1', 'minikube-user', 'create', 'secrets', 'default/example-secret', '201']);
    expect(alertLine).toBe('17:57:05.548299000: Warning Secret written (name=example-secret password=<redacted> token=<redacted> user=minikube-user)');
    expect(text).not.toContain(MARK);
    expect(text).not.toContain(Buffer.from(`${MARK}hunter2`).toString('base64'));
  });
});
