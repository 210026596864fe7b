/**
 * moby/patternmatcher's own vectors (testdata/conformance/dockerignore/),
 * run table-driven from the copied JSON files; see the corpus README §3.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { IgnoreMatcher, readDockerignore } from '../../lib/dockerfile/dockerignore.ts';
import { DockerignoreError } from '../../lib/dockerfile/dockerignore-error.ts';
import { compilePattern } from '../../lib/dockerfile/dockerignore-pattern.ts';

const DIR = new URL('../../testdata/conformance/dockerignore/', import.meta.url);
const readJson = (name: string): unknown => JSON.parse(readFileSync(new URL(name, DIR), 'utf8'));

interface MatchVector {
  source: string;
  api: 'Matches' | 'MatchesOrParentMatches';
  patterns: string[];
  path: string;
  match: boolean;
  error?: true;
  newSucceeds?: true;
  platform?: 'unix';
}

const isInvalid = (err: unknown) => err instanceof DockerignoreError && err.code === 'DOCKERIGNORE_PATTERN_INVALID';

describe('dockerignore/patternmatcher-matches.json', () => {
  const { vectors } = readJson('patternmatcher-matches.json') as { vectors: MatchVector[] };

  it('has 138 vectors: 85 true, 53 false, 18 errors', () => {
    assert.equal(vectors.length, 138);
    assert.equal(vectors.filter((v) => v.match).length, 85);
    assert.equal(vectors.filter((v) => v.error).length, 18);
  });

  vectors.forEach((v, i) => {
    it(`[${i}] ${v.source}: ${JSON.stringify(v.patterns)} vs ${JSON.stringify(v.path)} → ${v.error ? 'error' : v.match}`, () => {
      // One rule serves both upstream entry points: for every `Matches` vector
      // the older helper's answer equals MatchesOrParentMatches' (README §3).
      if (!v.error) {
        assert.equal(new IgnoreMatcher(v.patterns).matches(v.path), v.match);
        return;
      }
      if (!v.newSucceeds) {
        assert.throws(() => new IgnoreMatcher(v.patterns), isInvalid);
        return;
      }
      const matcher = new IgnoreMatcher(v.patterns);
      // Upstream calls twice: every call must fail the same way, never crash.
      assert.throws(() => matcher.matches(v.path), isInvalid);
      assert.throws(() => matcher.matches(v.path), isInvalid);
    });
  });
});

interface NewCase {
  test: string;
  patterns: string[];
  patternCount?: number;
  hasExclusions?: boolean;
  error?: true;
}

describe('dockerignore/patternmatcher-new.json', () => {
  const { cases } = readJson('patternmatcher-new.json') as { cases: NewCase[] };
  it('has 6 cases', () => assert.equal(cases.length, 6));
  for (const c of cases) {
    it(c.test, () => {
      if (c.error) {
        assert.throws(() => new IgnoreMatcher(c.patterns), isInvalid);
        return;
      }
      const matcher = new IgnoreMatcher(c.patterns);
      if (c.patternCount !== undefined) assert.equal(matcher.patterns.length, c.patternCount);
      if (c.hasExclusions !== undefined) assert.equal(matcher.hasExceptions, c.hasExclusions);
    });
  }
});

interface CompileCase {
  pattern: string;
  matchType: 'exact' | 'prefix' | 'suffix' | 'regexp';
  regexp?: string;
}

const PROBES = [
  'file', 'file/', 'dir', 'dir/', 'dir/file', 'x/dir', 'dir/dir2/file', 'dir/dir2/dir3/file', 'dir2/file', 'afile',
  'filetxt', 'file.txt', 'x/file.txt', 'x/y/fileZtxt', 'a/b', 'ab/b', 'abc/b', 'a/c/b', 'ae', 'ace', 'aze', '.foo', 'foo',
  'abc.def', 'abcdef', 'abcZdef', 'a(b)c/def', 'a.|)$(}+{bc', 'x/foo/bar', 'foo/bar', 'dist/x.whl', '', '/',
];

/**
 * Upstream's classification evaluated by Python: exact → equality, prefix →
 * startswith(pattern minus `**`), suffix → endswith(pattern minus `**`) or
 * `**\/x` vs `x`, regexp → Python's `re` running the Go regexp string from
 * the vector (these expressions mean the same in both engines).
 */
function pythonExpected(cases: CompileCase[], probes: string[]): boolean[][] {
  const script = [
    'import json, re, sys',
    'cases, probes = json.load(sys.stdin)',
    'def hit(c, p):',
    '    t, pat = c["matchType"], c["pattern"]',
    '    if t == "exact": return p == pat',
    '    if t == "prefix": return p.startswith(pat[:-2])',
    '    if t == "suffix":',
    '        s = pat[2:]',
    '        return p.endswith(s) or (s[:1] == "/" and p == s[1:])',
    '    return re.search(c["regexp"], p) is not None',
    'json.dump([[hit(c, p) for p in probes + [c["pattern"]]] for c in cases], sys.stdout)',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script], { input: JSON.stringify([cases, probes]), encoding: 'utf8' }));
}

describe('dockerignore/patternmatcher-compile.json', () => {
  const { cases } = readJson('patternmatcher-compile.json') as { cases: CompileCase[] };
  const expected = pythonExpected(cases, PROBES);
  it('has 21 cases', () => assert.equal(cases.length, 21));
  cases.forEach((c, i) => {
    it(`${c.pattern} is ${c.matchType} and matches like it`, () => {
      const compiled = compilePattern(c.pattern);
      assert.equal(compiled.kind, c.matchType);
      const got = [...PROBES, c.pattern].map((p) => compiled.match(p));
      assert.deepEqual(got, expected[i]);
    });
  });
});

describe('dockerignore/ignorefile-readall.json', () => {
  const { cases } = readJson('ignorefile-readall.json') as { cases: { input: string | null; expected: string[] }[] };
  cases.forEach((c, i) => {
    it(`[${i}] ${JSON.stringify(c.input)?.slice(0, 40)}`, () => {
      assert.deepEqual(readDockerignore(c.input), c.expected);
    });
  });
});
