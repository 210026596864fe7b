/**
 * IgnoreMatcher and readDockerignore beyond the upstream vectors. Expected
 * values of the matching and reading cases were checked by running
 * moby/patternmatcher 5a6d842 under Go; `excludesSubtree` is checked against
 * `matches` on every path of a small tree.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreMatcher, readDockerignore } from '../../lib/dockerfile/dockerignore.ts';
import { DockerignoreError } from '../../lib/dockerfile/dockerignore-error.ts';

const isInvalid = (err: unknown) => err instanceof DockerignoreError && err.code === 'DOCKERIGNORE_PATTERN_INVALID';

describe('IgnoreMatcher.matches, corner cases', () => {
  const table: Array<[string[], string, boolean]> = [
    // Outside a class, upstream's regexp reads ^ as the start anchor.
    [['a^*'], 'a^b', false],
    [['**/^a*'], 'ab', true],
    [['**/^a*'], 'x/ab', false],
    // A pattern without wildcards compares as plain text, ^ included.
    [['^a'], '^a', true],
    [['^a'], 'a', false],
    // Escaped punctuation and space are literal.
    [['a\\ b', '\\#c'], 'a b', true],
    [['a\\ b', '\\#c'], '#c', true],
    [['a\\ b', '\\#c'], 'c', false],
  ];
  for (const [patterns, path, expected] of table) {
    it(`${JSON.stringify(patterns)} vs ${path} → ${expected}`, () => {
      assert.equal(new IgnoreMatcher(patterns).matches(path), expected);
    });
  }

  it('fails a bad character class when it is reached, not when it is skipped', () => {
    const matcher = new IgnoreMatcher(['x', '[z-a]']);
    assert.equal(matcher.matches('x'), true);
    assert.throws(() => matcher.matches('q'), isInvalid);
  });

  it('rejects an escaped non-ASCII character when matching, as upstream does', () => {
    const matcher = new IgnoreMatcher(['\\é']);
    assert.throws(() => matcher.matches('é'), isInvalid);
  });

  it('rejects escaped letters that upstream would read as regexp escapes (\\d), instead of guessing', () => {
    const matcher = new IgnoreMatcher(['a\\d']);
    assert.throws(() => matcher.matches('a1'), isInvalid);
  });

  it('rejects a lone ! and invalid glob syntax at construction, naming the pattern', () => {
    assert.throws(() => new IgnoreMatcher(['ok', ' ! ']), isInvalid);
    assert.throws(
      () => new IgnoreMatcher(['a[b']),
      (err: unknown) => isInvalid(err) && (err as DockerignoreError).fields['pattern'] === 'a[b',
    );
  });

  it('lists the active patterns, cleaned and without !', () => {
    const matcher = new IgnoreMatcher([' a//b/ ', '', '!c/./d']);
    assert.deepEqual(matcher.patterns, [
      { pattern: 'a/b', exception: false },
      { pattern: 'c/d', exception: true },
    ]);
    assert.equal(matcher.hasExceptions, true);
  });
});

/** Every path of a small context tree, parents before children. */
function tree(): string[] {
  const names = ['a', 'b', 'keep', 'x.log', 'node_modules', 'docs', 'README.md', 'sub'];
  const out: string[] = [];
  const walk = (prefix: string, depth: number) => {
    for (const n of names) {
      const p = prefix === '' ? n : `${prefix}/${n}`;
      out.push(p);
      if (depth < 3) walk(p, depth + 1);
    }
  };
  walk('', 1);
  return out;
}

describe('IgnoreMatcher.excludesSubtree', () => {
  const paths = tree();
  const table: Array<[string[], string, boolean]> = [
    [['node_modules'], 'node_modules', true],
    [['node_modules'], 'docs', false],
    [['docs', '!docs/README.md'], 'docs', false],
    [['docs', '!docs/README.md'], 'node_modules', false],
    [['*', '!docs/README.md'], 'node_modules', true],
    [['**', '!**/keep'], 'a', false],
    [['**', '!keep'], 'a', true],
    [['a', '!a/b/*'], 'a', false],
    [['a', '!a/b/*'], 'a/sub', true],
    [['a', '!a/*.log'], 'a/b', true],
    [['a', '!a/**'], 'a/b', false],
    [['a', '!a**'], 'a/b', false],
    [['a', '!a?/keep'], 'a', true],
    [['a', '!?/keep'], 'a', false],
    [['dir/**'], 'dir', false],
    [['a/**'], 'a/b', true],
  ];
  for (const [patterns, dir, expected] of table) {
    it(`${JSON.stringify(patterns)} ${dir} → ${expected}`, () => {
      assert.equal(new IgnoreMatcher(patterns).excludesSubtree(dir), expected);
    });
  }

  it('never claims a subtree that holds a re-included path', () => {
    const lists = table.map(([patterns]) => patterns).concat([['**/sub', '!**/sub/keep'], ['*/*', '![ab]/keep'], ['a', '!a/[!k]*']]);
    for (const patterns of lists) {
      const matcher = new IgnoreMatcher(patterns);
      for (const dir of paths) {
        if (!matcher.excludesSubtree(dir)) continue;
        const kept = paths.filter((p) => p.startsWith(`${dir}/`) && !matcher.matches(p));
        assert.deepEqual(kept, [], `${JSON.stringify(patterns)}: ${dir}`);
      }
    }
  });
});

describe('readDockerignore, corner cases', () => {
  it('handles BOM, CRLF, indented #, ! with spaces, Unicode spaces, a lone / and !', () => {
    const text = '\ufeff# c\r\n  # x\r\n! /a/./b/../c/\n\u0085y\u0085\n\ufeffz\n/\n!';
    assert.deepEqual(readDockerignore(text), ['# x', '!a/c', 'y', '\ufeffz', '/', '!']);
  });

  it('rejects a line of 64 KiB, counted in UTF-8 bytes, and accepts one byte less', () => {
    assert.deepEqual(readDockerignore('a'.repeat(65535)), ['a'.repeat(65535)]);
    assert.deepEqual(readDockerignore('é'.repeat(32767) + 'a'), ['é'.repeat(32767) + 'a']);
    for (const text of ['a'.repeat(65536), `x\n${'é'.repeat(32768)}\n`]) {
      assert.throws(
        () => readDockerignore(text),
        (err: unknown) => err instanceof DockerignoreError && err.code === 'DOCKERIGNORE_LINE_TOO_LONG',
      );
    }
  });
});
