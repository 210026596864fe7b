/**
 * planBuild: stages, names, targets and the errors of the stage list, each
 * with its location. Expectations from BuildKit's dockerfile2llb
 * (convert.go: "no build stage in current context", "base name (…) should
 * not be blank", target "could not be found", `FROM <name>` matched
 * exactly against earlier stages, global ARGs through buildMetaArgs) and
 * instructions/parse.go (stage names ^[a-z][a-z0-9-_.]*$, lower-cased).
 * Reserved and duplicate names are lint warnings in BuildKit
 * (ReservedStageName, DuplicateStageName) and errors in kiln (issue 3).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FromInstruction } from '../../lib/dockerfile/index.ts';
import { planBuild } from '../../lib/plan/index.ts';
import { failure, plan } from './plan-kit.ts';

const MULTI = `ARG BASE=scratch
ARG V
FROM scratch AS Build
ARG V
COPY a /a
FROM build AS test
RUN x
FROM scratch
COPY --from=build /a /a
LABEL x=y
`;

describe('stages', () => {
  test('split at FROM, each with its instructions in order; names lower-cased; unnamed ones shown as stage-N', () => {
    const p = plan(MULTI);
    assert.equal(p.file, 'Dockerfile');
    assert.deepEqual(
      p.stages.map((s) => [s.index, s.name, s.displayName, s.from.image, s.instructions.map((i) => i.kind)]),
      [
        [0, 'build', 'build', 'scratch', ['ARG', 'COPY']],
        [1, 'test', 'test', 'build', ['RUN']],
        [2, undefined, 'stage-2', 'scratch', ['COPY', 'LABEL']],
      ],
    );
    assert.deepEqual(p.stages[1]!.location, { file: 'Dockerfile', line: 6, column: 1 });
  });

  test('global ARGs are the ones before the first FROM, with their values (a build arg wins over the default)', () => {
    assert.deepEqual([...plan(MULTI).globalArgs], [['BASE', 'scratch'], ['V', undefined]]);
    assert.deepEqual([...plan(MULTI, { buildArgs: { V: 'cli', BASE: '' } }).globalArgs], [['BASE', ''], ['V', 'cli']]);
    assert.deepEqual([...plan('ARG A=a B=${A}b\nARG C="$B c"\nFROM scratch\n').globalArgs], [['A', 'a'], ['B', 'ab'], ['C', 'ab c']]);
  });

  test('FROM <name> is an earlier stage only when the expanded word equals its lower-cased name', () => {
    const p = plan('ARG S=base\nFROM scratch AS Base\nFROM ${S}\nFROM scratch AS later\n');
    assert.deepEqual(p.stages[1]!.base, { kind: 'stage', index: 0 });
    const q = plan('FROM later AS first\nFROM scratch AS later\n');
    assert.equal(q.stages[0]!.base.kind, 'image', 'a stage defined later is not a base: the word is an image name');
  });

  test('scratch is the exact word scratch', () => {
    assert.deepEqual(plan('ARG s=scratch\nFROM $s\n').stages[0]!.base, { kind: 'scratch' });
    assert.equal(failure(() => plan('FROM SCRATCH\n')).code, 'FROM_INVALID');
  });

  test('an image base keeps the expanded name and its parsed reference', () => {
    const base = plan('ARG tag=3.20\nFROM alpine:${tag}\n').stages[0]!.base;
    assert.deepEqual(base.kind === 'image' ? [base.name, base.ref.registry, base.ref.repository, base.ref.tag] : base, ['alpine:3.20', 'docker.io', 'library/alpine', '3.20']);
  });
});

describe('target', () => {
  test('the last stage by default, or --target by name in any case', () => {
    assert.equal(plan(MULTI).target.index, 2);
    assert.equal(plan(MULTI, { target: 'build' }).target.index, 0);
    assert.equal(plan(MULTI, { target: 'BUILD' }).target.index, 0);
    assert.equal(plan(MULTI, { target: 'test' }).target.index, 1);
  });

  test('an unknown target lists the stage names and suggests a near one', () => {
    const f = failure(() => plan(MULTI, { target: 'tset' }));
    assert.equal(f.code, 'TARGET_UNKNOWN');
    assert.match(f.message, /target stage "tset" could not be found \(did you mean test\?\); the stages are: build, test/);
    assert.deepEqual(f.fields, { target: 'tset', stages: ['build', 'test'] });
    assert.equal(failure(() => plan(MULTI, { target: '2' })).code, 'TARGET_UNKNOWN', 'an index is not a target');
    assert.match(failure(() => plan('FROM scratch\n', { target: 'x' })).message, /names no stages/);
  });
});

describe('errors, each with file, line and column', () => {
  const cases: [string, string, string, number, number | undefined, RegExp?][] = [
    ['an instruction other than ARG before the first FROM', 'ARG A\n  ENV x=y\nFROM scratch\n', 'NO_BUILD_STAGE', 2, 3, /no build stage in current context/],
    ['no FROM at all', 'ARG A\nARG B\n', 'NO_BUILD_STAGE', 1, 1, /no stages to build/],
    ['a reserved stage name', 'FROM scratch AS base\nFROM base AS scratch\n', 'STAGE_NAME_RESERVED', 2, 14, /"scratch" is reserved/],
    ['the other reserved name, in any case', 'FROM scratch AS Context\n', 'STAGE_NAME_RESERVED', 1, 17],
    ['a blank base after expansion', 'ARG IMG=\nFROM  $IMG AS x\n', 'FROM_INVALID', 2, 7, /base name \(\$IMG\) should not be blank/],
    ['an invalid image reference', 'FROM scratch\nFROM --platform=linux/amd64 Alpine:3\n', 'FROM_INVALID', 2, 29, /failed to parse stage name "Alpine:3"/],
    ['a stage name in the wrong case', 'FROM scratch AS build\nFROM Build\n', 'FROM_INVALID', 2, 6, /FROM matches stage names exactly: write "build" for the stage on line 1/],
    ['a global ARG default that fails to expand', 'ARG A=1\nARG FOO=${FOO:?"custom error"}\nFROM scratch\n', 'EXPANSION_FAILED', 2, 1, /FOO: custom error/],
    ['a FROM word that fails to expand', 'FROM ${NOPE:?required}\n', 'EXPANSION_FAILED', 1, 6, /NOPE: required/],
    ['an empty --platform', 'FROM --platform=$BUILDPLATFRM scratch\n', 'PLATFORM_INVALID', 1, 6, /empty platform value from expression \$BUILDPLATFRM \(did you mean BUILDPLATFORM\?\)/],
    ['an unparsable --platform', 'FROM --platform=linux/arm/v7/x scratch\n', 'PLATFORM_INVALID', 1, 6, /failed to parse platform/],
  ];
  for (const [what, text, code, line, column, message] of cases) {
    test(what, () => {
      const f = failure(() => plan(text));
      assert.deepEqual([f.name, f.code, f.line, f.column], ['PlanError', code, line, column], f.message);
      if (message) assert.match(f.message, message);
    });
  }

  test('a duplicate stage name (any case) names both lines', () => {
    const f = failure(() => plan('FROM scratch AS a\nRUN x\nFROM scratch AS A\n'));
    assert.deepEqual([f.code, f.line, f.column, f.fields], ['STAGE_NAME_DUPLICATE', 3, 17, { firstLine: 1 }]);
    assert.match(f.message, /duplicate stage name "a": already used by the stage on line 1/);
  });

  test('the ARG default error goes away when a build arg replaces the default (testGlobalArgErrors)', () => {
    assert.equal(failure(() => plan('ARG FOO=${FOO:?"custom error"}\nFROM scratch\n', { buildArgs: { FOO: 'bar' } })).code, 'none');
  });

  test('without the Dockerfile lines, locations have no column', () => {
    const parsed = 'ARG A\nENV x=y\nFROM scratch\n';
    const f = failure(() => plan(parsed, { lines: undefined }));
    assert.deepEqual([f.code, f.line, f.column], ['NO_BUILD_STAGE', 2, undefined]);
  });

  test('stage names must match ^[a-z][a-z0-9-_.]*$ (checked here as well as by the parser)', () => {
    const from = (stageName: string): FromInstruction => ({ kind: 'FROM', image: 'scratch', stageName, range: { start: 1, end: 1 }, original: `FROM scratch AS ${stageName}` });
    for (const bad of ['1st', '-x', 'a b', 'a/b', 'a:b', 'é']) {
      assert.equal(failure(() => planBuild([from(bad)], { file: 'Dockerfile' })).code, 'STAGE_NAME_INVALID', bad);
    }
    for (const good of ['a', 'a1', 'a-b_c.d', 'z.']) {
      assert.equal(planBuild([from(good)], { file: 'Dockerfile' }).stages[0]!.name, good);
    }
    assert.notEqual(failure(() => plan('FROM scratch AS 1st\n')).code, 'none', 'the parser refuses it first');
  });

  test('no instructions at all', () => assert.equal(failure(() => planBuild([], { file: 'Dockerfile' })).code, 'NO_BUILD_STAGE'));
});
