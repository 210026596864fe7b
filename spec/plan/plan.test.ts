/**
 * planBuild/findStage. Expectations from BuildKit's dockerfile2llb
 * (convert.go: stages split at FROM, global ARGs before the first FROM,
 * "no build stage in current context", target "could not be found", stage
 * names lower-cased and matched case-insensitively by --target and --from,
 * `FROM <name>` matched against earlier stages only) and
 * instructions/parse.go (stage names ^[a-z][a-z0-9-_.]*$).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, toInstructions, type FromInstruction, type Instruction } from '../../lib/dockerfile/index.ts';
import { findStage, planBuild } from '../../lib/plan/index.ts';

const instructions = (text: string): Instruction[] => toInstructions(parseDockerfile(text, 'Dockerfile'), 'Dockerfile');
const plan = (text: string, target?: string) => planBuild(instructions(text), { file: 'Dockerfile', ...(target !== undefined ? { target } : {}) });

function failure(f: () => unknown): { code: string; line?: number } {
  try {
    f();
  } catch (e) {
    const err = e as { code?: string; location?: { line: number } };
    return { code: err.code ?? 'uncoded', ...(err.location ? { line: err.location.line } : {}) };
  }
  return { code: 'none' };
}

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

describe('planBuild', () => {
  test('splits stages at FROM and keeps each stage its instructions in order', () => {
    const p = plan(MULTI);
    assert.equal(p.file, 'Dockerfile');
    assert.deepEqual(
      p.stages.map((s) => [s.index, s.name, s.from.image, s.instructions.map((i) => i.kind)]),
      [
        [0, 'build', 'scratch', ['ARG', 'COPY']],
        [1, 'test', 'build', ['RUN']],
        [2, undefined, 'scratch', ['COPY', 'LABEL']],
      ],
    );
    assert.equal(p.stages[1]!.from.range.start, 6);
  });

  test('ARGs before the first FROM are global; a stage ARG belongs to its stage', () => {
    const p = plan(MULTI);
    assert.deepEqual(p.globalArgs.map((a) => a.args), [[{ key: 'BASE', value: 'scratch' }], [{ key: 'V' }]]);
    assert.equal(p.stages[0]!.instructions[0]!.kind, 'ARG');
  });

  test('the target is the last stage by default, or --target by name, case-insensitively', () => {
    assert.equal(plan(MULTI).target.index, 2);
    assert.equal(plan(MULTI, 'build').target.index, 0);
    assert.equal(plan(MULTI, 'BUILD').target.index, 0);
    assert.equal(plan(MULTI, 'test').target.index, 1);
  });

  const errors: [string, string, string | undefined, string, number | undefined][] = [
    ['an instruction other than ARG before the first FROM', 'ARG A\nENV x=y\nFROM scratch\n', undefined, 'NO_BUILD_STAGE', 2],
    ['no FROM at all', 'ARG A\nARG B\n', undefined, 'NO_BUILD_STAGE', undefined],
    ['an unknown --target', MULTI, 'nope', 'TARGET_UNKNOWN', undefined],
    ['--target naming an unnamed stage by index', MULTI, '2', 'TARGET_UNKNOWN', undefined],
    ['a duplicate stage name (any case)', 'FROM scratch AS a\nFROM scratch AS A\n', undefined, 'STAGE_NAME_DUPLICATE', 2],
  ];
  for (const [what, text, target, code, line] of errors) {
    test(what, () => {
      const got = failure(() => plan(text, target));
      assert.equal(got.code, code);
      if (line !== undefined) assert.equal(got.line, line);
    });
  }

  test('no instructions at all', () => assert.equal(failure(() => planBuild([], { file: 'Dockerfile' })).code, 'NO_BUILD_STAGE'));

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
});

describe('findStage', () => {
  const p = plan(MULTI);
  const cases: [string, string, number, boolean, number | undefined][] = [
    ['by name, an earlier stage', 'build', 2, false, 0],
    ['by name with --from, case-insensitively', 'BUILD', 2, true, 0],
    ['FROM matches the expanded name exactly against the lower-cased stage names', 'Build', 2, false, undefined],
    ['not the stage itself or a later one', 'test', 1, true, undefined],
    ['an earlier stage only', 'build', 0, false, undefined],
    ['by index for --from', '0', 2, true, 0],
    ['by index, the previous stage', '1', 2, true, 1],
    ['an index is not a name for FROM', '0', 2, false, undefined],
    ['an index that is not earlier', '2', 2, true, undefined],
    ['an index past the end', '7', 3, true, undefined],
    ['an unknown name', 'nope', 3, true, undefined],
  ];
  for (const [what, name, before, allowIndex, want] of cases) {
    test(what, () => assert.equal(findStage(p, name, before, allowIndex)?.index, want));
  }
});
