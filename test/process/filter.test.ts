import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/process/filter.js';
import { makeEvent } from '../helpers/events.js';

describe('drop and keep filters', () => {
  const get = makeEvent(1, { verb: 'get' });
  const list = makeEvent(2, { verb: 'list', user: { username: 'system:kube-scheduler' } });
  const del = makeEvent(3, { verb: 'delete' });

  it('drops events matching any drop condition', () => {
    const { filter, problems } = compileFilter({ drop: ['jpath("verb") = "get"', 'jpath("user.username") startswith "system:"'], keep: [] });
    expect(problems).toEqual([]);
    expect([get, list, del].filter(filter!)).toEqual([del]);
  });

  it('keeps only events matching some keep condition, then applies drop', () => {
    const { filter } = compileFilter({ keep: ['jpath("verb") in ("get", "list")'], drop: ['jpath("verb") = "list"'] });
    expect([get, list, del].filter(filter!)).toEqual([get]);
  });

  it('is no stage at all when both lists are empty', () => {
    expect(compileFilter({ drop: [], keep: [] })).toEqual({ filter: undefined, problems: [] });
  });

  it('reports every condition that cannot be read, with its list and index', () => {
    const { filter, problems } = compileFilter({ drop: ['jpath("verb") = "get"', 'jpath("verb") =>  1'], keep: ['verb = "get"'] });
    expect(filter).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^drop\[1\]: line 1, column 15: expected /), expect.stringMatching(/^keep\[0\]: line 1, column 1: expected /)]);
  });
});
