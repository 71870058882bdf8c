// Just enough PromQL to say which metric names and label names an expression refers to, so that
// test/charts/alerts.test.ts can hold every query of the chart's alerts and dashboard against a
// live /metrics. It is a tokenizer and a walk over the tokens, not a parser: it does not check
// the syntax (promtool does that for the rules and, in the test, for the dashboard's queries).

export interface Selector {
  /** The metric name; '' for a selector written only as {...}. */
  metric: string;
  /** Label names of its matchers ({source=~"$source"} → source). */
  labels: string[];
}

export interface PromqlRefs {
  selectors: Selector[];
  /** Label names of by, without, on, ignoring, group_left and group_right clauses. */
  grouping: string[];
}

type Token = { kind: 'ident' | 'string' | 'number' | 'variable' | 'punct'; text: string };

const AGGREGATORS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio',
]);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'start', 'end', 'inf', 'nan']);
const MATCH_OPS = new Set(['=', '!=', '=~', '!~']);
// Longest first, so =~ is not read as = then ~.
const PUNCT = ['=~', '!~', '!=', '==', '<=', '>=', '{', '}', '(', ')', '[', ']', ',', '=', '<', '>', '+', '-', '*', '/', '%', '^', '@', ':'];
const UNIT = '(?:ms|s|m|h|d|w|y)';
const NUMBER = new RegExp(`^(?:0[xX][0-9a-fA-F]+|(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?(?:${UNIT}(?:\\d+${UNIT})*)?)`);

/** The tokens of an expression; Grafana's variables ($source, ${datasource}, $__rate_interval) are tokens of their own. */
export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const rest = expr.slice(i);
    const space = /^(?:\s+|#[^\n]*)/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      let j = 1;
      while (j < rest.length && rest[j] !== quote) j += quote !== '`' && rest[j] === '\\' ? 2 : 1;
      if (j >= rest.length) throw new Error(`unterminated string at ${i} in ${expr}`);
      tokens.push({ kind: 'string', text: rest.slice(0, j + 1) });
      i += j + 1;
      continue;
    }
    const variable = /^\$(?:\{[^}]*\}|\w+)/.exec(rest);
    const number = NUMBER.exec(rest);
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest);
    // An identifier may not start with a digit, so a number never shadows one.
    const match: [Token['kind'], string] | undefined = variable
      ? ['variable', variable[0]]
      : number
        ? ['number', number[0]]
        : ident
          ? ['ident', ident[0]]
          : (() => {
              const p = PUNCT.find((op) => rest.startsWith(op));
              return p ? (['punct', p] as [Token['kind'], string]) : undefined;
            })();
    if (!match) throw new Error(`unexpected ${JSON.stringify(rest[0])} at ${i} in ${expr}`);
    tokens.push({ kind: match[0], text: match[1] });
    i += match[1].length;
  }
  return tokens;
}

/** The metric names, matcher label names and grouping label names an expression refers to. */
export function promqlRefs(expr: string): PromqlRefs {
  const tokens = tokenize(expr);
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const at = (i: number): Token | undefined => tokens[i];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.text === '[') {
      // A range or subquery: durations and variables only.
      let depth = 0;
      do {
        const text = tokens[i]!.text;
        if (text === '[') depth++;
        if (text === ']') depth--;
        i++;
      } while (depth > 0 && i < tokens.length);
      continue;
    }
    if (t.kind === 'punct' && t.text === '{') {
      // A selector without a name before its braces: {__name__="x"} or {job="a"}.
      i = readMatchers(tokens, i, { metric: '', labels: [] }, selectors);
      continue;
    }
    if (t.kind !== 'ident') {
      i++;
      continue;
    }
    const word = t.text;
    if (GROUPING.has(word)) {
      i++;
      if (at(i)?.text === '(') {
        i++;
        while (i < tokens.length && at(i)!.text !== ')') {
          if (at(i)!.kind === 'ident') grouping.push(at(i)!.text);
          i++;
        }
        i++;
      }
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase()) || AGGREGATORS.has(word) || at(i + 1)?.text === '(') {
      i++;
      continue;
    }
    const selector: Selector = { metric: word, labels: [] };
    i++;
    if (at(i)?.text === '{') i = readMatchers(tokens, i, selector, selectors);
    else selectors.push(selector);
  }
  return { selectors, grouping };
}

/** Reads {name op value, ...} from the `{` at `i`; returns the index after the `}`. */
function readMatchers(tokens: Token[], i: number, selector: Selector, into: Selector[]): number {
  i++;
  while (i < tokens.length && tokens[i]!.text !== '}') {
    const t = tokens[i]!;
    if (t.kind === 'ident' && MATCH_OPS.has(tokens[i + 1]?.text ?? '')) {
      selector.labels.push(t.text);
      i += 3;
      continue;
    }
    i++;
  }
  into.push(selector);
  return i + 1;
}

/** Grafana's label_values(metric, label) variable query: the metric and the label. */
export function labelValuesRefs(query: string): PromqlRefs {
  const match = /^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
  if (!match) throw new Error(`not a label_values() query: ${query}`);
  const inner = promqlRefs(match[1]!);
  return { selectors: inner.selectors, grouping: [...inner.grouping, match[2]!] };
}
