import type { SinkComponent } from '../../component/sink.js';
import { fileSinkSchema, type FileSinkConfig } from './config.js';
import { FileSink } from './sink.js';

export const fileSink: SinkComponent<FileSinkConfig> = {
  type: 'file',
  summary: 'JSON lines appended to a file, fsynced before the batch is acknowledged',
  schema: fileSinkSchema,
  create: (config) => new FileSink(config.name, config.path),
};
