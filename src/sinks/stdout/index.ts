import type { SinkComponent } from '../../component/sink.js';
import { stdoutSinkSchema, type StdoutSinkConfig } from './config.js';
import { StdoutSink } from './sink.js';

export const stdoutSink: SinkComponent<StdoutSinkConfig> = {
  type: 'stdout',
  summary: 'events on stdout, one per line: JSON lines, or readable text (format: text)',
  schema: stdoutSinkSchema,
  create: (config, ctx) => new StdoutSink(config.name, ctx.stdout, config.format),
  demo: async (ctx) => (await import('./demo.js')).stdoutPart(ctx),
};
