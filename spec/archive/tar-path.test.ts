import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareSegments, normalizeTarPath, tarPathSegments } from '../../lib/archive/index.ts';

describe('normalizeTarPath', () => {
  const cases: [string, string][] = [
    ['a/b', 'a/b'],
    ['/a/b', 'a/b'],
    ['./a/b', 'a/b'],
    ['././a', 'a'],
    ['a/b/', 'a/b'],
    ['//a//b//', 'a/b'],
    ['a/./b/.', 'a/b'],
    ['./', '.'],
    ['/', '.'],
    ['.', '.'],
    ['', '.'],
    ['../x', '../x'], // kept: confining paths is the consumer's job
    ['a/../b', 'a/../b'],
    ['.hidden/..dots', '.hidden/..dots'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(normalizeTarPath(input), expected));
  }
});

describe('compareSegments', () => {
  it('puts a directory right before its subtree, then byte order of each segment', () => {
    const names = ['a.b', 'a/b/c', 'b', 'a-b', 'a', 'a/b', 'A', 'é', 'z', 'a/b-c', '.'];
    const sorted = [...names].sort((x, y) => compareSegments(tarPathSegments(x), tarPathSegments(y)));
    assert.deepEqual(sorted, ['.', 'A', 'a', 'a/b', 'a/b/c', 'a/b-c', 'a-b', 'a.b', 'b', 'z', 'é']);
  });
});
