// The shape of src/ that docs/architecture.md describes, checked: every module belongs to a layer,
// imports only from its own layer or below (types included), and the import graph has no cycle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/cli.js';

const SRC = join(REPO, 'src');

/** Layers from the bottom; a module may import its own layer and those before it. First match wins. */
const LAYERS: { name: string; match: RegExp }[] = [
  { name: 'util', match: /^(util|telemetry)\// },
  { name: 'event', match: /^event\// },
  { name: 'config machinery', match: /^config\/(fields|errors|env|keys)\.ts$/ },
  { name: 'stages', match: /^(rules|process|checkpoint)\// },
  { name: 'pipeline', match: /^(pipeline|server)\// },
  { name: 'component model', match: /^component\// },
  { name: 'components', match: /^(sources|sinks)\// },
  { name: 'registry', match: /^registry\.ts$/ },
  { name: 'config', match: /^config\// },
  { name: 'bridge', match: /^(bridge|check-config)\.ts$/ },
  { name: 'entry points', match: /^(demo|cli)\// },
];

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'testdata' ? [] : modules(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2])!;
    out.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

const layerOf = (file: string): number => LAYERS.findIndex((l) => l.match.test(relative(SRC, file)));

describe('architecture of src/', () => {
  const files = modules(SRC);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t.startsWith(SRC))]));

  it('puts every module in a layer', () => {
    expect(files.filter((f) => layerOf(f) < 0).map((f) => relative(SRC, f))).toEqual([]);
  });

  it('never imports upward (types included)', () => {
    const upward: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        if (layerOf(to) > layerOf(from)) upward.push(`${relative(SRC, from)} (${LAYERS[layerOf(from)]!.name}) → ${relative(SRC, to)} (${LAYERS[layerOf(to)]!.name})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
        return;
      }
      state.set(file, 'open');
      stack.push(file);
      for (const to of graph.get(file) ?? []) visit(to);
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) visit(file);
    expect(cycles).toEqual([]);
  });

  it('names no document outside the repository', () => {
    const outside = files.filter((f) => /DESIGN \u00a7|[(]DESIGN\b|(^|[^/a-z])reference\/[a-z-]+\.md|\.\.\/shared/.test(readFileSync(f, 'utf8'))).map((f) => relative(SRC, f));
    expect(outside).toEqual([]);
  });
});
