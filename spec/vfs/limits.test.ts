/** checkPath and the defaults: Linux's NAME_MAX (255) and PATH_MAX (4096), counted in UTF-8 bytes. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyLimits, checkLinkTarget, checkPath, DEFAULT_LIMITS } from '../../lib/vfs/index.ts';
import { codeOf } from './tree-kit.ts';

describe('limits', () => {
  const l = applyLimits({}, {});
  test('defaults', () => {
    assert.deepEqual([l.maxNameLength, l.maxPathLength, l.maxDepth, l.maxRatio, l.ratioGrace, l.maxBytes], [255, 4096, 1024, 1100, 2 ** 30, 2 ** 35]);
    assert.equal(applyLimits({ maxDepth: 3 }).maxDepth, 3);
    assert.equal(DEFAULT_LIMITS.maxDepth, 1024, 'overrides do not change the defaults');
  });
  const cases: [string, string[], string][] = [
    ['255 ASCII bytes', ['n'.repeat(255)], 'none'],
    ['256 ASCII bytes', ['n'.repeat(256)], 'NAME_TOO_LONG'],
    ['128 two-byte characters (256 bytes)', ['é'.repeat(128)], 'NAME_TOO_LONG'],
    ['a path of 4096 bytes with its slashes', Array.from({ length: 16 }, () => 'p'.repeat(255)), 'none'],
    ['a path of 4097 bytes', [...Array.from({ length: 16 }, () => 'p'.repeat(255)), 'q'], 'PATH_TOO_LONG'],
    ['1024 levels', Array.from({ length: 1024 }, () => 'a'), 'none'],
    ['1025 levels', Array.from({ length: 1025 }, () => 'a'), 'PATH_TOO_DEEP'],
  ];
  for (const [what, comps, code] of cases) test(what, () => assert.equal(codeOf(() => checkPath(comps, comps.join('/'), l)), code));
  test('KILN_MAX_PATH_DEPTH sets the depth (overrides win); a bad value is LIMIT_INVALID', () => {
    assert.equal(applyLimits(undefined, { KILN_MAX_PATH_DEPTH: '12' }).maxDepth, 12);
    assert.equal(applyLimits({ maxDepth: 3 }, { KILN_MAX_PATH_DEPTH: '12' }).maxDepth, 3);
    for (const bad of ['0', '-1', 'deep', '1.5']) assert.equal(codeOf(() => applyLimits(undefined, { KILN_MAX_PATH_DEPTH: bad })), 'LIMIT_INVALID', bad);
  });
  test('link targets: PATH_MAX', () => {
    assert.equal(codeOf(() => checkLinkTarget('t'.repeat(4096), 'l', l)), 'none');
    assert.equal(codeOf(() => checkLinkTarget('t'.repeat(4097), 'l', l)), 'PATH_TOO_LONG');
  });
});
