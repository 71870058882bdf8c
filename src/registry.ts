// The one list of components. A source or a sink is a folder (src/sources/<type>/,
// src/sinks/<type>/) whose index.ts exports its descriptor; adding one is that folder and a line
// here. The config schema, the bridge's factories, `convert --from`, `emulator`, the demo and the
// chart's schema check read these lists and nothing else.
import type { SinkComponent } from './component/sink.js';
import type { SourceComponent } from './component/source.js';
import { aksSource } from './sources/aks/index.js';
import { aksEventHubsSource } from './sources/aks-eventhubs/index.js';
import { eksSource } from './sources/eks/index.js';
import { fileSource } from './sources/file/index.js';
import { gkeSource } from './sources/gke/index.js';
import { gkePubsubSource } from './sources/gke-pubsub/index.js';
import { webhookSource } from './sources/webhook/index.js';
import { fileSink } from './sinks/file/index.js';
import { rulesSink } from './sinks/rules/index.js';
import { stdoutSink } from './sinks/stdout/index.js';
import { webhookSink } from './sinks/webhook/index.js';

export const SOURCES = [gkeSource, gkePubsubSource, eksSource, aksSource, aksEventHubsSource, webhookSource, fileSource] as const;

export const SINKS = [webhookSink, fileSink, stdoutSink, rulesSink] as const;

type SourceEntry = (typeof SOURCES)[number];
type SinkEntry = (typeof SINKS)[number];

/** The component a source entry's `type` names (the schema has already accepted the type). */
export function sourceComponent(type: string): SourceComponent {
  return SOURCES.find((c) => c.type === type) as SourceEntry as unknown as SourceComponent;
}

export function sinkComponent(type: string): SinkComponent<{ name: string; type: string }, unknown> {
  return SINKS.find((c) => c.type === type) as SinkEntry as unknown as SinkComponent<{ name: string; type: string }, unknown>;
}
