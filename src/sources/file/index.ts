import type { SourceComponent } from '../../component/source.js';
import { fileSourceSchema, type FileSourceConfig } from './config.js';

/** A kube-apiserver log-backend file: in the schema, not runnable yet (validate and run say so). */
export const fileSource: SourceComponent<FileSourceConfig> = {
  type: 'file',
  summary: "a kube-apiserver log-backend file (--audit-log-path); not available yet",
  schema: fileSourceSchema,
};
