/**
 * COPY wildcards. BuildKit matches sources with Go's filepath.Match
 * (fsutil copy.ResolveWildcards): the single-component vectors of Go's own
 * TestMatch suite (as transcribed in moby/patternmatcher's test file, see
 * testdata/conformance/dockerignore) give the expectations, with Go's result
 * where patternmatcher's differs. Tree expansion follows ResolveWildcards:
 * symlinks are followed in the part before the first wildcard, not below it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileComponent, glob, hasWildcards } from '../../lib/vfs/index.ts';
import { codeOf, dir, file, link } from './tree-kit.ts';

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Vector {
  source: string;
  api: string;
  patterns: string[];
  path: string;
  match: boolean;
  error?: boolean;
}

function goMatch(pattern: string, name: string): boolean | 'error' {
  try {
    return compileComponent(pattern).test(name);
  } catch (e) {
    if ((e as { code?: string }).code === 'PATTERN_INVALID') return 'error';
    throw e;
  }
}

describe('compileComponent against Go filepath.Match (TestMatch vectors)', () => {
  const doc = JSON.parse(readFileSync(join(TOP, 'testdata/conformance/dockerignore/patternmatcher-matches.json'), 'utf8')) as { vectors: Vector[] };
  const vectors = doc.vectors.filter((v) => v.source.startsWith('TestMatch/') && v.patterns.length === 1 && !v.patterns[0]!.includes('/') && !v.path.includes('/'));
  test('the corpus has the single-component vectors', () => assert.ok(vectors.length >= 45, `${vectors.length} vectors`));
  for (const v of vectors) {
    const pattern = v.patterns[0]!;
    test(`${v.source}: ${JSON.stringify(pattern)} ~ ${JSON.stringify(v.path)}`, () => {
      assert.equal(goMatch(pattern, v.path), v.error ? 'error' : v.match);
    });
  }

  // Go behaviours not in that list (path/filepath match.go: getEsc and matchChunk).
  const own: [string, string, boolean | 'error'][] = [
    ['*', '.hidden', true],
    ['.*', '.hidden', true],
    ['*', '', true],
    ['?', '', false],
    ['?', '☺', true],
    ['??', '☺', false],
    ['[[]', '[', true],
    ['[a^]', '^', true],
    ['[^^]', '^', false],
    ['[z-a]', 'q', false],
    ['[^z-a]', 'q', true],
    ['[a-a]', 'a', true],
    ['\\[x]', '[x]', true],
    ['a.b', 'axb', false],
    ['a+b', 'a+b', true],
    ['(x)|y', '(x)|y', true],
    ['$^', '$^', true],
    ['[^]a]', ']', 'error'],
    ['[a-]', 'a', 'error'],
    ['[a', 'a', 'error'],
    ['a\\', 'a', 'error'],
    ['[\\', 'a', 'error'],
    ['[a-\\', 'a', 'error'],
  ];
  for (const [pattern, name, want] of own) {
    test(`${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`, () => assert.equal(goMatch(pattern, name), want));
  }
});

describe('hasWildcards', () => {
  for (const [s, want] of [['a*', true], ['a?', true], ['[ab]', true], ['a\\b', true], ['plain/path.txt', false], ['', false]] as const) {
    test(JSON.stringify(s), () => assert.equal(hasWildcards(s), want));
  }
});

describe('glob', () => {
  const root = dir({
    'foo.go': file('f'),
    'bar.go': file('b'),
    '.hidden.go': file('h'),
    sub: dir({ dir1: dir({ dir2: dir({ foo: file('x') }) }), l0: link('dir1'), lfile: file('') }),
    link: link('sub'),
    abslink: link('/sub'),
    'x.txt': file(''),
  });
  const cases: [string, string[] | string][] = [
    ['*.go', ['.hidden.go', 'bar.go', 'foo.go']],
    ['f*.go', ['foo.go']],
    ['sub/*', ['sub/dir1', 'sub/l0', 'sub/lfile']],
    ['sub/l*', ['sub/l0', 'sub/lfile']],
    ['sub/*/dir2/foo', ['sub/dir1/dir2/foo']],
    ['sub/*/dir2', ['sub/dir1/dir2']],
    ['./sub//dir1/*', ['sub/dir1/dir2']],
    // the part before the first wildcard is followed through symlinks...
    ['link/d*', ['link/dir1']],
    ['abslink/d*', ['abslink/dir1']],
    // ...what lies below a wildcard is walked without following links (filepath.Walk)
    ['sub/l?/dir2', []],
    ['*/dir1', ['sub/dir1']],
    ['nomatch*', []],
    ['foo.go', ['foo.go']],
    ['nope', []],
    ['sub/*/../x.txt', []],
    ['[', 'PATTERN_INVALID'],
  ];
  for (const [pattern, want] of cases) {
    test(pattern, () => {
      if (typeof want === 'string') assert.equal(codeOf(() => glob(root, pattern, 'clamp')), want);
      else assert.deepEqual(glob(root, pattern, 'clamp'), want);
    });
  }

  test('with the error policy, leaving the root before a wildcard is refused', () => {
    assert.equal(codeOf(() => glob(root, '../*', 'error')), 'PATH_OUTSIDE_ROOT');
    assert.equal(codeOf(() => glob(root, 'abslink/*', 'error')), 'PATH_OUTSIDE_ROOT');
    assert.deepEqual(glob(root, 'link/*', 'error'), ['link/dir1', 'link/l0', 'link/lfile']);
  });
});
