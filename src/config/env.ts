// ${VAR} and ${VAR:-default} substitution in the string values of a parsed YAML document.
// Substituting after parsing (not in the raw text) means a value can never inject YAML structure,
// and an unset variable can be reported with the key path it was used at.
import type { ConfigProblem } from './errors.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface Substituted {
  value: unknown;
  /**
   * Key paths whose whole value was one reference. Their text is typed later by what the schema
   * expects there (load.ts), never by how YAML would read it: a digits-only password stays a
   * string, an account id keeps its leading zero, a port becomes a number.
   */
  wholeReferences: (string | number)[][];
}

export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Substituted {
  const wholeReferences: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      const out = substituteString(node, env, problems, path);
      if (out !== node && WHOLE_REFERENCE.test(node)) wholeReferences.push(path);
      return out;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, [...path, k]);
      return out;
    }
    return node;
  };
  return { value: walk(value, []), wholeReferences };
}

function substituteString(text: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[], path: (string | number)[]): string {
  if (!text.includes('${')) return text;
  let missing = false;
  const result = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const set = env[name!];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    missing = true;
    problems.push({
      path,
      message: `environment variable ${name} is not set; set it, or give a default with \${${name}:-value}`,
    });
    return '';
  });
  return missing ? text : result;
}

/** The text of a whole reference as the scalar type the schema expects at its key; other text stays a string. */
export function typedAs(text: string, expected: 'string' | 'number' | 'boolean' | undefined): unknown {
  if (expected === 'number' && /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text.trim())) return Number(text.trim());
  if (expected === 'boolean') {
    const lower = text.trim().toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return text;
}
