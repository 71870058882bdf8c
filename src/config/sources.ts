import { z } from 'zod';
import { SOURCES } from '../registry.js';

type ConfigOf<T> = T extends { schema: z.ZodType<infer C> } ? C : never;
export type SourceConfig = ConfigOf<(typeof SOURCES)[number]>;
export type SourceType = SourceConfig['type'];

/** One entry of `sources`: the schema of the component its `type` names. */
export const sourceSchema = z.discriminatedUnion('type', SOURCES.map((c) => c.schema) as unknown as Parameters<typeof z.discriminatedUnion>[1]) as unknown as z.ZodType<SourceConfig>;
