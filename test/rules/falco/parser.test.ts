import { describe, expect, it } from 'vitest';
import type { Expr } from '../../../src/rules/falco/ast.js';
import { FalcoConditionError } from '../../../src/rules/falco/errors.js';
import { parseCondition, parseFieldRef } from '../../../src/rules/falco/parser.js';

/** A compact rendering of the tree: parentheses show the grouping the parser chose. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'and':
    case 'or':
      return `(${e.children.map(show).join(` ${e.kind} `)})`;
    case 'not':
      return `(not ${show(e.child)})`;
    case 'identifier':
      return e.name;
    case 'exists':
      return `${e.field.name}${e.field.arg === undefined ? '' : `[${e.field.arg}]`} exists`;
    case 'compare': {
      const field = `${e.field.name}${e.field.arg === undefined ? '' : `[${e.field.arg}]`}`;
      const operand = e.operand.kind === 'value' ? JSON.stringify(e.operand.value.text) : `(${e.operand.items.map((i) => JSON.stringify(i.text)).join(', ')})${e.operand.bare ? '*' : ''}`;
      return `${field} ${e.op} ${operand}`;
    }
  }
}

const parse = (text: string): string => show(parseCondition(text));

function error(text: string): { line: number; column: number; reason: string } {
  try {
    parseCondition(text);
  } catch (err) {
    expect(err).toBeInstanceOf(FalcoConditionError);
    const e = err as FalcoConditionError;
    return { line: e.line, column: e.column, reason: e.reason };
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('Falco condition grammar', () => {
  it.each([
    ['kevt', 'kevt'],
    ['a or b and c', '(a or (b and c))'],
    ['a and b or c and d', '((a and b) or (c and d))'],
    ['not a and b', '((not a) and b)'],
    ['not not a', 'a'],
    ['not not not a', '(not a)'],
    ['not (a or b)', '(not (a or b))'],
    ['not(a) and b', '((not a) and b)'],
    ['(a)', 'a'],
    ['a and(b or c)', '(a and (b or c))'],
    ['a or(b)', '(a or b)'],
    ['  a\n  and\tb  ', '(a and b)'],
    ['nothing', 'nothing'],
  ])('%j groups as %s', (text, grouped) => {
    expect(parse(text)).toBe(grouped);
  });

  it.each([
    ['ka.verb=create', 'ka.verb = "create"'],
    ['ka.verb == create', 'ka.verb = "create"'],
    ['ka.target.namespace!=kube-system', 'ka.target.namespace != "kube-system"'],
    ['ka.uri startswith /healthz?', 'ka.uri startswith "/healthz?"'],
    ['ka.user.name=system:anonymous', 'ka.user.name = "system:anonymous"'],
    ['ka.auth.decision="allow"', 'ka.auth.decision = "allow"'],
    ["ka.auth.reason = 'a \"b\"'", 'ka.auth.reason = "a \\"b\\""'],
    ['ka.auth.reason = "say \\"hi\\" \\\\ there"', 'ka.auth.reason = "say \\"hi\\" \\\\ there"'],
    ['ka.response.code >= 400', 'ka.response.code >= "400"'],
    ['ka.response.code<0x1F', 'ka.response.code < "0x1F"'],
    ['jevt.rawtime=0', 'jevt.rawtime = "0"'],
    ['ka.uri.param[command] = bash', 'ka.uri.param[command] = "bash"'],
    ['jevt.value[/annotations/authorization.k8s.io~1decision] exists', 'jevt.value[/annotations/authorization.k8s.io~1decision] exists'],
    ['jevt.value["/a b"] exists', 'jevt.value[/a b] exists'],
    ['ka.req.pod.containers.image[0] in (nginx)', 'ka.req.pod.containers.image[0] in ("nginx")'],
    ['ka.target.subresource exists', 'ka.target.subresource exists'],
    ['ka.verb in (create,update, patch)', 'ka.verb in ("create", "update", "patch")'],
    ['ka.verb in ( "a b" , c )', 'ka.verb in ("a b", "c")'],
    ['ka.verb in ()', 'ka.verb in ()'],
    ['ka.verb in(create)', 'ka.verb in ("create")'],
    ['ka.user.name in allowed_k8s_users', 'ka.user.name in ("allowed_k8s_users")*'],
    ['ka.req.pod.host_network intersects (true)', 'ka.req.pod.host_network intersects ("true")'],
    ['ka.uri pmatch (/api, /apis)', 'ka.uri pmatch ("/api", "/apis")'],
    ['ka.uri glob /api/*', 'ka.uri glob "/api/*"'],
    ['ka.uri iglob /API/*', 'ka.uri iglob "/API/*"'],
    ['ka.uri regex "^/api/v[0-9]+$"', 'ka.uri regex "^/api/v[0-9]+$"'],
    ['ka.uri contains "v1" and ka.uri icontains V1', '(ka.uri contains "v1" and ka.uri icontains "V1")'],
    ['ka.uri endswith /exec', 'ka.uri endswith "/exec"'],
    ['ka.uri bcontains 2F61', 'ka.uri bcontains "2F61"'],
  ])('%j reads as %s', (text, read) => {
    expect(parse(text)).toBe(read);
  });

  it('reads every condition of the shipped rule file shape: macros, lists and multi-line text', () => {
    expect(parse('kevt and pod and kcreate and ka.req.pod.containers.privileged intersects (true) and not ka.req.pod.containers.image.repository in (k8s_audit_privileged_images)')).toBe(
      '(kevt and pod and kcreate and ka.req.pod.containers.privileged intersects ("true") and (not ka.req.pod.containers.image.repository in ("k8s_audit_privileged_images")))',
    );
    expect(parse('(ka.req.configmap.obj contains "aws_access_key_id" or\n ka.req.configmap.obj contains "password")\n')).toBe(
      '(ka.req.configmap.obj contains "aws_access_key_id" or ka.req.configmap.obj contains "password")',
    );
  });

  it('reads a field reference on its own (exceptions name fields so)', () => {
    expect(parseFieldRef('ka.target.name')).toMatchObject({ name: 'ka.target.name', arg: undefined });
    expect(parseFieldRef('jevt.value[/a/b]')).toMatchObject({ name: 'jevt.value', arg: '/a/b' });
    expect(() => parseFieldRef('kevt')).toThrow(FalcoConditionError);
    expect(() => parseFieldRef('ka.verb = x')).toThrow(FalcoConditionError);
  });
});

describe('Falco condition errors: the reason and the line and column where reading stopped', () => {
  it.each([
    ['', 1, 1, 'filter input string is empty'],
    ['   ', 1, 4, "expected a '(' token, a field check, or an identifier"],
    ['kevt pod', 1, 6, "unexpected token after 'kevt', expecting 'or', 'and'"],
    ['kevt andpod', 1, 9, "expected blank or '(' after 'and'"],
    ['kevt orx', 1, 8, "expected blank or '(' after 'or'"],
    ['(kevt and pod', 1, 14, "expected a ')' token"],
    ['kevt)', 1, 5, "unexpected token after 'kevt', expecting 'or', 'and'"],
    ['ka.verb', 1, 8, "expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch'"],
    ['ka.uri contains(x)', 1, 8, "expected a valid check operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch'"],
    ['ka.verb =', 1, 10, 'expected a string value or a field with a valid transformer'],
    ['ka.verb = "open', 1, 11, 'expected a string value or a field with a valid transformer'],
    ['ka.response.code < abc', 1, 20, 'expected a number value or a field with a valid transformer'],
    ['ka.verb in (a,', 1, 15, 'expected a string value'],
    ['ka.verb in (a b)', 1, 15, "expected a ')' token"],
    ['ka.verb in "a"', 1, 12, 'expected a list, an identifier, or a field with a valid transformer'],
    ['ka.uri.param[ = x', 1, 14, 'expected a valid field argument: a quoted string or a bare string'],
    ['ka.uri.param[a = x', 1, 15, "expected a ']' token"],
    ['= x', 1, 1, "expected a '(' token, a field check, or an identifier"],
    ['tolower(ka.verb) = x', 1, 1, "field transformers such as 'tolower' are not supported by the bridge's Falco engine"],
    ['ka.verb = val(ka.uri)', 1, 11, "field transformers such as 'val' are not supported by the bridge's Falco engine"],
    ['kevt and\n  pod and\n  ka.verb in (a', 3, 16, "expected a ')' token"],
    ['kevt and\n  (pod or)', 2, 10, "expected blank or '(' after 'or'"],
    ['kevt and\n  (pod or )', 2, 11, "expected a '(' token, a field check, or an identifier"],
  ])('%j: line %i, column %i: %s', (text, line, column, reason) => {
    expect(error(text)).toEqual({ line, column, reason });
  });

  it('refuses nesting deeper than libsinsp allows instead of overflowing the stack', () => {
    expect(error(`${'('.repeat(30)}a${')'.repeat(30)}`).reason).toBe('exceeded max depth limit of 100');
    expect(parse(`${'('.repeat(10)}a${')'.repeat(10)}`)).toBe('a');
    expect(() => parseCondition(`${'not '.repeat(5000)}a`)).not.toThrow();
  });
});
