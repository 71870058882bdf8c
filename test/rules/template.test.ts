import { describe, expect, it } from 'vitest';
import { compileTemplate, TemplateError } from '../../src/rules/template.js';

const EVENT = {
  user: { username: 'alice', groups: ['dev', 'ops'] },
  responseStatus: { code: 403 },
  requestObject: { spec: { hostNetwork: true, containers: [{ image: 'nginx' }, { image: 'busybox' }], nodeSelector: null } },
  single: [{ image: 'only' }],
  annotations: { 'authorization.k8s.io/decision': 'forbid' },
};

describe('message templates', () => {
  it.each([
    ['user={user.username}', 'user=alice'],
    ['code={responseStatus.code} host={requestObject.spec.hostNetwork}', 'code=403 host=true'],
    ['missing={user.uid}', 'missing=<NA>'],
    ['null={requestObject.spec.nodeSelector}', 'null=<NA>'],
    ['groups={user.groups}', 'groups=[dev,ops]'],
    ['images={requestObject.spec.containers.image}', 'images=[nginx,busybox]'],
    ['image={single.image}', 'image=only'],
    ['first={requestObject.spec.containers.0.image}', 'first=nginx'],
    ['spec={requestObject.spec.containers.1}', 'spec={image:busybox}'],
    ['decision={annotations.authorization\\.k8s\\.io/decision}', 'decision=forbid'],
    ['{{literal}} and }} alone } stay', '{literal} and } alone } stay'],
    ['no placeholders', 'no placeholders'],
    ['{user.username}{user.username}', 'alicealice'],
    ['', ''],
  ])('%s → %s', (template, expected) => {
    expect(compileTemplate(template).render(EVENT)).toBe(expected);
  });

  it('lists each placeholder once in fieldValues: the value, a list for several, null when missing', () => {
    const t = compileTemplate('{user.username} {user.groups} {requestObject.spec.containers.image} {user.uid} {user.username}');
    expect(t.paths.map((p) => p.text)).toEqual(['user.username', 'user.groups', 'requestObject.spec.containers.image', 'user.uid']);
    expect(t.fieldValues(EVENT)).toEqual({
      'user.username': 'alice',
      'user.groups': ['dev', 'ops'],
      'requestObject.spec.containers.image': ['nginx', 'busybox'],
      'user.uid': null,
    });
  });

  it.each([
    ['user={user.username', 1, 6, 'expected "}" to close the placeholder that starts here (write {{ for a literal brace)'],
    ['a\nb {}', 2, 4, 'in the placeholder: expected a path such as user.username, found an empty path'],
    ['x {a..b}', 1, 6, 'in the placeholder: expected a key before "." (an empty key; write \\. for a dot inside a key)'],
    ['x {a\\q}', 1, 5, 'in the placeholder: expected \\. or \\\\ after a backslash in a path, found "\\\\q"'],
    ['x {a {b}', 1, 3, 'expected "}" to close the placeholder that starts here (write {{ for a literal brace)'],
  ])('%j is refused at %i:%i: %s', (template, line, column, reason) => {
    let error: unknown;
    try {
      compileTemplate(template);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemplateError);
    expect(error).toMatchObject({ line, column, reason });
  });
});
