// The Event Hubs emulator's parts without a network: record files, SAS tokens, positions, the
// hub's bookkeeping, and the CLI entry point (which does listen, on 127.0.0.1).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventHubConsumerClient, earliestEventPosition } from '@azure/event-hubs';
import { describe, expect, it, vi } from 'vitest';
import { Hub, PositionError, startIndex } from '../../../../src/sources/aks-eventhubs/emulator/hub.js';
import { eventHubsEmulatorModule, runEventHubsEmulatorCommand, startEventHubsEmulator } from '../../../../src/sources/aks-eventhubs/emulator/index.js';
import { keyOf, klogLine, parseRecordsText, recordFromAzureDiagnosticsRow } from '../../../../src/sources/aks-eventhubs/emulator/records.js';
import { checkSasToken, createSasToken, scopeCovers } from '../../../../src/sources/aks-eventhubs/emulator/sas.js';
import { tempDir } from '../../../helpers/fs.js';
import { collect, countRecords, eventually, FAST_RETRIES, syntheticRecords } from './helpers.js';

describe('record files', () => {
  const record = { category: 'kube-audit', properties: { log: '{"kind":"Event"}' } };

  it('reads a JSON array, one record, {"records": [...]} messages and JSON lines; a BOM is ignored', () => {
    expect(parseRecordsText(JSON.stringify([record, record]))).toEqual([record, record]);
    expect(parseRecordsText(`\uFEFF${JSON.stringify(record, null, 2)}`)).toEqual([record]);
    expect(parseRecordsText(JSON.stringify({ records: [record, record] }))).toEqual([record, record]);
    expect(parseRecordsText(`${JSON.stringify(record)}\n\n${JSON.stringify({ records: [record] })}\n`)).toEqual([record, record]);
    expect(() => parseRecordsText(`${JSON.stringify(record)}\n{oops\n`)).toThrow(/line 2: not JSON/);
    expect(() => parseRecordsText('[1, 2]')).toThrow(/expected diagnostic records \(objects\), got 1/);
  });

  it('turns AzureDiagnostics rows back into records and refuses what carries no record', () => {
    const row = {
      TimeGenerated: '2025-10-07T16:19:19.6478800Z',
      ResourceId: '/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C',
      Category: 'kube-audit-admin',
      OperationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
      log_s: '{"kind":"Event"}\n',
      pod_s: 'kube-apiserver-1',
      stream_s: 'stdout',
      containerID_s: 'abc',
      ccpNamespace_s: '',
      Cloud_s: '',
      Type: 'AzureDiagnostics',
    };
    expect(recordFromAzureDiagnosticsRow(row)).toEqual({
      operationName: 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
      category: 'kube-audit-admin',
      resourceId: row.ResourceId,
      properties: { log: '{"kind":"Event"}\n', containerID: 'abc', stream: 'stdout', pod: 'kube-apiserver-1' },
      time: '2025-10-07T16:19:19.6478800Z',
    });
    expect(parseRecordsText(JSON.stringify({ table: 'AzureDiagnostics', rows: [row] }))).toHaveLength(1);
    expect(() => parseRecordsText(JSON.stringify({ rows: [{ AuditId: 'x', Type: 'AKSAudit' }] }))).toThrow(/AKSAudit rows do not carry/);
    expect(() => parseRecordsText(JSON.stringify({ tables: [] }))).toThrow(/query API answer/);
  });

  it('finds partition keys by dotted path and writes klog lines from the record time', () => {
    expect(keyOf({ a: { b: 'x' } }, 'a.b')).toBe('x');
    expect(keyOf({ a: { b: 3 } }, 'a.b')).toBe('3');
    expect(keyOf({ a: 'x' }, 'a.b')).toBeUndefined();
    expect(klogLine({ time: '2025-10-07T16:19:19.647Z' })).toMatch(/^I1007 16:19:19\.647000 {7}1 httplog\.go:132\] "HTTP" verb="GET"/);
  });
});

describe('shared access signatures', () => {
  const keys = new Map([['RootManageSharedAccessKey', 'secret']]);
  const now = Date.UTC(2026, 0, 1);
  const expiry = now / 1000 + 3600;

  it('accepts a token signed with a known key until it expires, and scopes it to a path prefix', () => {
    const token = createSasToken('sb://127.0.0.1:5672/hub', 'RootManageSharedAccessKey', 'secret', expiry);
    const check = checkSasToken(token, keys, now);
    expect(check).toEqual({ ok: true, claim: { resource: 'sb://127.0.0.1:5672/hub', keyName: 'RootManageSharedAccessKey', expiresAtMs: expiry * 1000 } });
    expect(checkSasToken(token, keys, expiry * 1000)).toMatchObject({ ok: false, reason: expect.stringMatching(/^ExpiredToken/) as unknown });
    expect(checkSasToken(createSasToken('sb://h/hub', 'RootManageSharedAccessKey', 'other', expiry), keys, now)).toMatchObject({ ok: false, reason: expect.stringMatching(/^InvalidSignature/) as unknown });
    expect(checkSasToken(createSasToken('sb://h/hub', 'Listen', 'secret', expiry), keys, now)).toMatchObject({ ok: false, reason: expect.stringContaining('unknown key name') as unknown });
    expect(checkSasToken('Bearer abc', keys, now)).toMatchObject({ ok: false });
    expect(checkSasToken('SharedAccessSignature sr=a&sig=b', keys, now)).toMatchObject({ ok: false, reason: expect.stringContaining('required') as unknown });
    // A token for the hub covers its partitions and consumer groups, not another hub with a longer name.
    expect(scopeCovers('sb://127.0.0.1:5672/hub', 'hub/ConsumerGroups/$Default/Partitions/0')).toBe(true);
    expect(scopeCovers('sb://127.0.0.1:5672/HUB/', 'sb://127.0.0.1:5672/hub/$management')).toBe(true);
    expect(scopeCovers('sb://127.0.0.1:5672/hub', 'hub2/ConsumerGroups/$Default/Partitions/0')).toBe(false);
    expect(scopeCovers('sb://127.0.0.1:5672/', 'anything')).toBe(true);
  });
});

describe('positions', () => {
  function hub(events: number): Hub {
    let t = 1_000;
    const h = new Hub({ name: 'h', partitionCount: 1, now: () => (t += 10) });
    h.appendRecords(syntheticRecords(events));
    return h;
  }

  it('maps the selector filters the SDK sends to the first event to deliver', () => {
    const p = hub(5).partition('0')!;
    const offsets = p.events.map((e) => e.offset);
    expect(startIndex(p, undefined)).toBe(0);
    expect(startIndex(p, "amqp.annotation.x-opt-offset > '-1'")).toBe(0);
    expect(startIndex(p, "amqp.annotation.x-opt-offset > '@latest'")).toBe(5);
    expect(startIndex(p, `amqp.annotation.x-opt-offset > '${offsets[2]}'`)).toBe(3);
    expect(startIndex(p, `amqp.annotation.x-opt-offset >= '${offsets[2]}'`)).toBe(2);
    expect(startIndex(p, "amqp.annotation.x-opt-sequence-number > '1'")).toBe(2);
    expect(startIndex(p, "amqp.annotation.x-opt-sequence-number >= '1'")).toBe(1);
    expect(startIndex(p, "amqp.annotation.x-opt-sequence-number > '4'")).toBe(5);
    expect(startIndex(p, "amqp.annotation.x-opt-sequence-number > '-1'")).toBe(0);
    expect(startIndex(p, `amqp.annotation.x-opt-enqueued-time > '${p.events[1]!.enqueuedTimeMs}'`)).toBe(2);
    expect(startIndex(p, "amqp.annotation.x-opt-enqueued-time > '0'")).toBe(0);
    expect(() => startIndex(p, "amqp.annotation.x-opt-sequence-number > '5'")).toThrow(PositionError);
    expect(() => startIndex(p, "amqp.annotation.x-opt-offset > 'abc'")).toThrow(/not valid/);
    expect(() => startIndex(p, 'x-opt-offset > 1')).toThrow(/not supported/);
  });

  it('gives every partition its own sequence numbers, growing offsets and increasing enqueued times', () => {
    const h = new Hub({ name: 'h', partitionCount: 2, now: () => 5_000 });
    h.appendRecords(syntheticRecords(6));
    for (const p of h.partitions) {
      expect(p.events.map((e) => e.sequenceNumber)).toEqual([0, 1, 2]);
      expect(p.events.map((e) => e.enqueuedTimeMs)).toEqual([5_000, 5_001, 5_002]);
      const offsets = p.events.map((e) => Number(e.offset));
      expect(offsets[0]).toBe(0);
      expect(offsets[1]).toBeGreaterThan(p.events[0]!.body.type === 'data' ? p.events[0]!.body.bytes.length : 0);
      expect(offsets[2]).toBeGreaterThan(offsets[1]!);
    }
    expect(() => new Hub({ name: 'h', partitionCount: 0 })).toThrow(/partitions/);
    expect(() => new Hub({ name: 'h', partitionCount: 2, recordsPerMessage: 0 })).toThrow(/recordsPerMessage/);
  });
});

describe('starting the emulator', () => {
  it('listens on loopback only and needs a hub name', async () => {
    await expect(startEventHubsEmulator({ hub: 'h', host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
    await expect(startEventHubsEmulator({ hub: '' })).rejects.toThrow(/hub/);
    await expect(startEventHubsEmulator({ hub: 'h', faults: 'nope=1' })).rejects.toThrow(/unknown fault/);
    const em = await startEventHubsEmulator({ hub: 'h', key: 'fixed', keyName: 'Listen', partitions: 1 });
    try {
      expect(em.connectionString).toBe(`Endpoint=sb://127.0.0.1:${em.port}/;SharedAccessKeyName=Listen;SharedAccessKey=fixed;EntityPath=h;UseDevelopmentEmulator=true`);
    } finally {
      await em.close();
    }
  });

  it('runEventHubsEmulatorCommand prints endpoint and connection string first, serves the file, and stops on SIGTERM', async () => {
    const dir = await tempDir();
    const file = join(dir, 'records.jsonl');
    await writeFile(file, syntheticRecords(6).map((r) => JSON.stringify(r)).join('\n'));
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const before = new Set(process.listeners('SIGTERM'));
    let running: Promise<void> | undefined;
    try {
      running = runEventHubsEmulatorCommand({ port: 0, data: file, hub: 'insights-logs-kube-audit', partitions: 3, faults: 'duplicate-every=1000' });
      await eventually(() => lines.length > 0, 5_000, 'the first line');
    } finally {
      write.mockRestore();
    }
    const first = JSON.parse(lines[0]!) as { endpoint: string; connectionString: string; partitions: number; records: number };
    expect(first).toMatchObject({ endpoint: expect.stringMatching(/^sb:\/\/127\.0\.0\.1:\d+$/) as unknown, partitions: 3, records: 6 });
    expect(first.connectionString).toContain(`Endpoint=${first.endpoint}/;`);
    expect(first.connectionString).toContain('EntityPath=insights-logs-kube-audit;UseDevelopmentEmulator=true');

    const client = new EventHubConsumerClient('$Default', first.connectionString, { retryOptions: FAST_RETRIES });
    try {
      const { events } = await collect(client, { subscribe: { startPosition: earliestEventPosition }, until: (ev) => countRecords(ev) >= 6 });
      expect(countRecords(events)).toBe(6);
    } finally {
      await client.close();
    }

    // SIGTERM, through the listener the command added (emitting the signal would reach the test runner's too).
    const added = process.listeners('SIGTERM').filter((l) => !before.has(l));
    expect(added).toHaveLength(1);
    (added[0] as () => void)();
    await running;
    expect(process.listeners('SIGTERM').filter((l) => !before.has(l))).toHaveLength(0);
    await expect(runEventHubsEmulatorCommand({ port: 0, data: join(dir, 'missing.json'), hub: 'h' })).rejects.toThrow(/ENOENT/);
  });

  it('eventHubsEmulatorModule adapts the CLI options: --hub is required, --partitions a whole number', async () => {
    const dir = await tempDir();
    const file = join(dir, 'records.json');
    await writeFile(file, JSON.stringify(syntheticRecords(2)));
    const stop = new AbortController();
    await expect(eventHubsEmulatorModule.runFromCli({ port: 0, data: file }, stop.signal)).rejects.toThrow(/--hub/);
    await expect(eventHubsEmulatorModule.runFromCli({ port: 0, data: file, hub: 'h', partitions: 'two' }, stop.signal)).rejects.toThrow(/--partitions two/);
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let running: Promise<void> | undefined;
    try {
      running = eventHubsEmulatorModule.runFromCli({ port: 0, data: file, hub: 'h', partitions: '3' }, stop.signal);
      await eventually(() => lines.length > 0, 5_000, 'the first line');
    } finally {
      write.mockRestore();
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ hub: 'h', partitions: 3, records: 2 });
    stop.abort();
    await running;
  });
});
