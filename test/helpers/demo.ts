import { PassThrough } from 'node:stream';
import type { DemoPartFactory } from '../../src/component/demo.js';
import { runDemo } from '../../src/demo/demo.js';
import type { AuditEvent } from '../../src/event/event.js';
import { stdoutPart } from '../../src/sinks/stdout/demo.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { eventually } from './pipeline.js';

/** Runs a demo part beside the stdout part until it has printed at least `count` events, stops it, and returns them. */
export async function demoEvents(part: DemoPartFactory, count: number, what: string): Promise<AuditEvent[]> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const stop = new AbortController();
  const demo = runDemo({ logger: silentLogger(), parts: [part, stdoutPart], signal: stop.signal, stdout: out });
  const events = (): AuditEvent[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
  try {
    await eventually(() => events().length >= count, 20_000, what);
  } finally {
    stop.abort();
    await demo;
  }
  return events();
}
