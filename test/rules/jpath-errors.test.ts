import { describe, expect, it } from 'vitest';
import { JpathError } from '../../src/rules/jpath/errors.js';
import { compileJpath } from '../../src/rules/jpath/compile.js';

const END = 'found the end of the condition';
const START = 'expected jpath("…"), "not" or "("';
const OPERATOR = 'expected an operator: =, !=, <, >, <=, >=, contains, startswith or in';
const VALUE = 'expected a string in double quotes or an integer';

// [condition, line, column, message without the position]
const MALFORMED: [string, number, number, string][] = [
  ['', 1, 1, `expected a condition such as jpath("verb") = "create", ${END}`],
  ['   \n  ', 2, 3, `expected a condition such as jpath("verb") = "create", ${END}`],
  ['jpath("verb")', 1, 14, `${OPERATOR}, ${END}`],
  ['jpath("verb") = ', 1, 17, `${VALUE} after =, ${END}`],
  ['jpath("a") == "x"', 1, 12, 'expected = (jpath compares with a single =), found "=="'],
  ['jpath("a") => "x"', 1, 12, 'expected >= (greater or equal), found "=>"'],
  ['jpath("a") =< 1', 1, 12, 'expected <= (less or equal), found "=<"'],
  ['jpath("a") <> "x"', 1, 12, 'expected != (not equal), found "<>"'],
  ['jpath("a") ! "x"', 1, 12, 'expected != or not, found "!"'],
  ['jpath("a") = "x" && jpath("b") = "y"', 1, 18, 'expected and, found "&&"'],
  ['jpath("a") = "x" || jpath("b") = "y"', 1, 18, 'expected or, found "||"'],
  ["jpath('a') = \"x\"", 1, 7, 'expected a string in double quotes, found "\'" (single quotes do not delimit strings)'],
  ['jpath("a") = "x', 1, 14, `expected a closing " for the string that starts here, ${END}`],
  ['jpath("a") = "x\n"', 1, 14, 'expected a closing " for the string that starts here, found the end of the line'],
  ['jpath("a) = "x"', 1, 14, 'expected ")" after the path (jpath takes one path), found the word "x"'],
  ['jpath(a) = "x"', 1, 7, 'expected a path in double quotes, such as jpath("user.username"), found the word "a"'],
  ['jpath "a" = "x"', 1, 7, 'expected "(" after jpath, found the string "a"'],
  ['jpath("a", "b") = "x"', 1, 10, 'expected ")" after the path (jpath takes one path), found ","'],
  ['jpath("") = "x"', 1, 8, 'expected a path such as user.username, found an empty path'],
  ['jpath("a..b") = "x"', 1, 10, 'expected a key before "." (an empty key; write \\. for a dot inside a key)'],
  ['jpath(".a") = "x"', 1, 8, 'expected a key before "." (an empty key; write \\. for a dot inside a key)'],
  ['jpath("a.") = "x"', 1, 10, 'expected a key before the end of the path (an empty key; write \\. for a dot inside a key)'],
  ['jpath("a\\q") = "x"', 1, 9, 'expected \\. or \\\\ after a backslash in a path, found "\\\\q"'],
  ['jpath("a") = jpath("b")', 1, 14, `${VALUE} after = (comparing two paths is not supported), found "jpath"`],
  ['jpath("a") in "x"', 1, 15, 'expected "(" after in, as in in ("a", "b"), found the string "x"'],
  ['jpath("a") in ()', 1, 16, `${VALUE}, found ")"`],
  ['jpath("a") in ("x",)', 1, 20, `${VALUE} after ",", found ")"`],
  ['jpath("a") in ("x" "y")', 1, 20, 'expected "," or ")" in the list, found the string "y"'],
  ['jpath("a") = 1.5', 1, 14, 'expected an integer (jpath numbers are whole), found 1.5'],
  ['jpath("a") = 12abc', 1, 14, 'expected an integer, found "12abc"'],
  ['jpath("a") = 99999999999999999999', 1, 14, 'expected an integer between -9007199254740991 and 9007199254740991, found 99999999999999999999'],
  ['jpath("a") = -', 1, 14, 'expected jpath("…"), an operator, a string or an integer, found "-"'],
  ['jpath("a") = "x" and', 1, 21, `${START}, ${END}`],
  ['jpath("a") = "x" jpath("b") = "y"', 1, 18, 'expected "and", "or" or the end of the condition, found "jpath"'],
  ['(jpath("a") = "x"', 1, 18, `expected "and", "or" or ")", ${END}`],
  ['jpath("a") = "x")', 1, 17, 'expected "and", "or" or the end of the condition (this ")" closes nothing), found ")"'],
  ['not', 1, 4, `${START}, ${END}`],
  ['jpath("a") AND jpath("b")', 1, 12, `${OPERATOR}, found the word "AND"`],
  ['proc.name = "netcat"', 1, 1, `${START}, found the word "proc.name"`],
  ['jpath("a") = "x" @', 1, 18, 'expected jpath("…"), an operator, a string or an integer, found "@"'],
  ['jpath("a") = "x" and\n   jpath("b") contains', 2, 23, `${VALUE} after contains, ${END}`],
  ['// only a comment', 1, 18, `expected a condition such as jpath("verb") = "create", ${END}`],
  ['jpath("a") contains and', 1, 21, `${VALUE} after contains, found "and"`],
  [`${'('.repeat(201)}jpath("a") = "x"${')'.repeat(201)}`, 1, 201, 'expected at most 200 nested parentheses and nots, found more'],
  [`${'not '.repeat(201)}jpath("a") = "x"`, 1, 801, 'expected at most 200 nested parentheses and nots, found more'],
];

describe('malformed jpath conditions', () => {
  it('has at least 20 cases', () => {
    expect(MALFORMED.length).toBeGreaterThanOrEqual(20);
  });

  it.each(MALFORMED)('%j → %i:%i %s', (condition, line, column, reason) => {
    let error: unknown;
    try {
      compileJpath(condition);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(JpathError);
    const e = error as JpathError;
    expect({ line: e.line, column: e.column, reason: e.reason }).toEqual({ line, column, reason });
    expect(e.message).toBe(`line ${line}, column ${column}: ${reason}`);
  });

  it('200 levels of nesting are fine', () => {
    expect(compileJpath(`${'('.repeat(200)}jpath("a") = "x"${')'.repeat(200)}`)({ a: 'x' })).toBe(true);
    expect(compileJpath(`${'not '.repeat(200)}jpath("a") = "x"`)({ a: 'x' })).toBe(true);
  });
});
