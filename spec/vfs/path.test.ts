/**
 * Path helpers. Expectations follow Go's path.Clean/path.Join (what BuildKit
 * runs image paths through) with `..` clamped at the root, as a container
 * runtime resolves it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanPath, comparePaths, joinPath, splitConfined, splitPath } from '../../lib/vfs/index.ts';
import { codeOf } from './tree-kit.ts';

describe('splitPath', () => {
  const cases: [string, string[]][] = [
    ['', []],
    ['/', []],
    ['//', []],
    ['a', ['a']],
    ['/a/b', ['a', 'b']],
    ['a//b/', ['a', 'b']],
    ['/a/./b/.', ['a', 'b']],
    ['/a/../b', ['b']],
    ['/a/b/..', ['a']],
    ['/..', []],
    ['/../../x', ['x']],
    ['a/b/../../..', []],
    ['../x/../y', ['y']],
    ['...', ['...']],
    ['.hidden/..x', ['.hidden', '..x']],
    ['a b/ä', ['a b', 'ä']],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(splitPath(input), want));
  }
});

describe('cleanPath', () => {
  const cases: [string, string][] = [
    ['', '/'],
    ['.', '/'],
    ['/a/b/', '/a/b'],
    ['//x//y', '/x/y'],
    ['a/../../b', '/b'],
    ['/a/./b/../c', '/a/c'],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.equal(cleanPath(input), want));
  }
});

describe('joinPath (Go path.Join onto a working directory)', () => {
  const cases: [string, string, string][] = [
    ['/a', 'b', '/a/b'],
    ['/a', '/b', '/b'],
    ['/a/b', '../c', '/a/c'],
    ['/a/b', './c/', '/a/b/c'],
    ['/a', '', '/a'],
    ['/a', '.', '/a'],
    ['/', '..', '/'],
    ['/', '../../etc', '/etc'],
    ['/test5/test6', '../', '/test5'],
  ];
  for (const [base, rel, want] of cases) {
    test(`${base} + ${rel}`, () => assert.equal(joinPath(base, rel), want));
  }
});

describe('splitConfined', () => {
  const ok: [string, string[]][] = [
    ['a/b', ['a', 'b']],
    ['./a/./b/', ['a', 'b']],
    ['/a/../b', ['b']],
    ['a/..', []],
    ['.', []],
  ];
  for (const [input, want] of ok) {
    test(`${JSON.stringify(input)} stays inside`, () => assert.deepEqual(splitConfined(input, 'source'), want));
  }
  for (const input of ['..', '../a', 'a/../../b', '/..', './../x', 'a/b/../../../c']) {
    test(`${JSON.stringify(input)} leaves the root`, () => assert.equal(codeOf(() => splitConfined(input, 'source')), 'PATH_OUTSIDE_ROOT'));
  }
});

describe('comparePaths', () => {
  test('orders component by component in byte order, a directory right before its subtree', () => {
    const input = ['b', 'a.b', 'a/b/c', 'ä', 'a-b', 'a', 'Z', 'a/b', 'a/B', 'a0'];
    // Plain string order would put 'a-b' and 'a.b' before 'a/b' ('-' 0x2d, '.' 0x2e < '/' 0x2f).
    const want = ['Z', 'a', 'a/B', 'a/b', 'a/b/c', 'a-b', 'a.b', 'a0', 'b', 'ä'];
    assert.deepEqual([...input].sort(comparePaths), want);
  });
  test('compares UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 is EF BD A1 in UTF-8; U+1F600 is F0 9F 98 80: bytes put the emoji last,
    // UTF-16 code units (0xFF61 vs 0xD83D) would put it first.
    assert.ok(comparePaths('\u{ff61}', '\u{1f600}') < 0);
    assert.ok(comparePaths('\u{1f600}', '\u{ff61}') > 0);
    assert.equal(comparePaths('x/y', 'x/y'), 0);
  });
});
