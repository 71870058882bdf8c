import type { DemoPartFactory } from '../component/demo.js';
import { SINKS, SOURCES } from '../registry.js';

/** The demo's pieces, in start order: what each component adds (src/registry.ts). */
export const demoParts: DemoPartFactory[] = [...SOURCES, ...SINKS].flatMap((c) => (c.demo ? [c.demo] : []));
