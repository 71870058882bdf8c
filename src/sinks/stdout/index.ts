import type { SinkComponent } from '../../component/sink.js';
import { stdoutSinkSchema, type StdoutSinkConfig } from './config.js';
import { StdoutSink } from './sink.js';

export const stdoutSink: SinkComponent<StdoutSinkConfig> = {
  type: 'stdout',
  summary: 'JSON lines on stdout, one Event per line',
  schema: stdoutSinkSchema,
  create: (config, ctx) => new StdoutSink(config.name, ctx.stdout),
  demo: async (ctx) => (await import('./demo.js')).stdoutPart(ctx),
};
