import { z } from 'zod';
import { SINKS } from '../registry.js';

type ConfigOf<T> = T extends { schema: z.ZodType<infer C> } ? C : never;
export type SinkConfig = ConfigOf<(typeof SINKS)[number]>;

/** One entry of `sinks`: the schema of the component its `type` names. */
export const sinkSchema = z.discriminatedUnion('type', SINKS.map((c) => c.schema) as unknown as Parameters<typeof z.discriminatedUnion>[1]) as unknown as z.ZodType<SinkConfig>;
