// Finds which keys the schema accepts at a path of the input, for "did you mean" hints.
import type { z } from 'zod';

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  options?: AnySchema[];
  innerType?: AnySchema;
  in?: AnySchema;
  schema?: AnySchema;
  valueType?: AnySchema;
}

function defOf(schema: AnySchema): Def {
  return schema._zod.def;
}

/** Unwraps optional/default/pipe/... and picks the union member the input selects. */
function resolve(schema: AnySchema, input: unknown): AnySchema {
  let current = schema;
  for (let guard = 0; guard < 20; guard++) {
    const def = defOf(current);
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else if (def.type === 'union' && def.options) {
      const match = def.options.find((option) => {
        const shape = defOf(resolveObjectOnly(option)).shape;
        const literal = shape?.type ? defOf(shape.type) : undefined;
        const values = (literal as { values?: unknown[] } | undefined)?.values;
        return values !== undefined && input !== null && typeof input === 'object' && values.includes((input as { type?: unknown }).type);
      });
      // A union of a scalar form and a mapping form (a path, or {path, keys, when}): a mapping picks the mapping.
      const objects = def.options.filter((option) => defOf(resolveObjectOnly(option)).type === 'object');
      const fallback = objects.length === 1 && input !== null && typeof input === 'object' && !Array.isArray(input) ? objects[0] : undefined;
      if (!match && !fallback) return current;
      current = (match ?? fallback)!;
    } else return current;
  }
  return current;
}

function resolveObjectOnly(schema: AnySchema): AnySchema {
  let current = schema;
  for (let guard = 0; guard < 20; guard++) {
    const def = defOf(current);
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
  return current;
}

export function knownKeysAt(root: AnySchema, input: unknown, path: readonly PropertyKey[]): string[] {
  let schema = resolve(root, input);
  let value: unknown = input;
  for (const segment of path) {
    const def = defOf(schema);
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segment] : undefined;
    if (def.type === 'object' && def.shape && typeof segment === 'string' && def.shape[segment]) {
      schema = resolve(def.shape[segment], value);
    } else if (def.type === 'array' && def.element) {
      schema = resolve(def.element, value);
    } else return [];
  }
  const shape = defOf(schema).shape;
  return shape ? Object.keys(shape) : [];
}

/**
 * The scalar type the schema takes at a path of the input: 'string' whenever a string is accepted
 * there (a size such as 10MiB, a duration), else 'number' or 'boolean'; undefined when unknown.
 */
export function scalarTypeAt(root: AnySchema, input: unknown, path: readonly PropertyKey[]): 'string' | 'number' | 'boolean' | undefined {
  let schema = resolve(root, input);
  let value: unknown = input;
  for (const segment of path) {
    const def = defOf(schema);
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segment] : undefined;
    if (def.type === 'object' && def.shape && typeof segment === 'string' && def.shape[segment]) schema = resolve(def.shape[segment], value);
    else if (def.type === 'array' && def.element) schema = resolve(def.element, value);
    else if (def.type === 'record' && def.valueType) schema = resolve(def.valueType, value);
    else return undefined;
  }
  return scalarTypeOf(schema);
}

function scalarTypeOf(schema: AnySchema): 'string' | 'number' | 'boolean' | undefined {
  const current = resolveObjectOnly(schema);
  const def = defOf(current) as Def & { values?: unknown[] };
  switch (def.type) {
    case 'string':
    case 'enum':
      return 'string';
    case 'number':
    case 'int':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'literal': {
      const first = def.values?.[0];
      return typeof first === 'number' ? 'number' : typeof first === 'boolean' ? 'boolean' : 'string';
    }
    case 'union': {
      const kinds = (def.options ?? []).map(scalarTypeOf);
      if (kinds.includes('string')) return 'string';
      return kinds.find((k) => k !== undefined);
    }
    default:
      return undefined;
  }
}
