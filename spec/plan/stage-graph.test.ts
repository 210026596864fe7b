/**
 * The stage graph: `--from` resolution, reachability from the target,
 * forward references, cycles and levels. Expectations from BuildKit's
 * dockerfile2llb: toCommand (`--from` = stage name in any case, else a
 * number = stage index, else an image; "invalid stage index"),
 * detectRunMount (mount `from=` by name only), initOnBuildTriggers (a base
 * stage's ONBUILD runs in the stage built on it), validateCircularDependency
 * (every stage), allReachableStages (FROM and `--from` edges) and the
 * dispatcher's "needs to be defined before current stage" check (reachable
 * stages only).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BaseRef } from '../../lib/plan/index.ts';
import { failure, plan } from './plan-kit.ts';

const show = (b: BaseRef): string => (b.kind === 'image' ? `image ${b.name} = ${b.ref.registry}/${b.ref.repository}:${b.ref.tag}` : b.kind === 'stage' ? `stage ${b.index}` : 'scratch');

describe('--from', () => {
  const DF = `FROM scratch AS Build
FROM scratch AS tools
COPY --from=BUILD /a /a
COPY --from=0 /b /b
COPY --from=busybox:1.36 /bin/sh /sh
COPY --from=scratch / /
RUN --mount=type=bind,from=build,target=/m \\
    --mount=type=cache,target=/c --mount=from=alpine,target=/x true
`;
  test('a stage name (any case), a stage index, an image reference, scratch; RUN --mount from= by name', () => {
    const deps = plan(DF).stages[1]!.dependencies;
    assert.deepEqual(
      deps.map((d) => [d.instruction.kind, d.mount, d.from, show(d.source)]),
      [
        ['COPY', undefined, 'BUILD', 'stage 0'],
        ['COPY', undefined, '0', 'stage 0'],
        ['COPY', undefined, 'busybox:1.36', 'image busybox:1.36 = docker.io/library/busybox:1.36'],
        ['COPY', undefined, 'scratch', 'scratch'],
        ['RUN', 0, 'build', 'stage 0'],
        ['RUN', 2, 'alpine', 'image alpine = docker.io/library/alpine:latest'],
      ],
    );
  });

  test('each edge is located at its flag (line and column)', () => {
    const deps = plan(DF).stages[1]!.dependencies;
    assert.deepEqual(deps.map((d) => [d.location.line, d.location.column]), [[3, 6], [4, 6], [5, 6], [6, 6], [7, 5], [8, 34]]);
  });

  test('a name that reads like a stage but is none stays an image, with a hint for a failed pull', () => {
    const p = plan('FROM scratch AS build\nFROM scratch\nCOPY --from=biuld /a /a\nCOPY --from=nginx /b /b\nCOPY --from=ghcr.io/x/y:1 /c /c\n');
    assert.deepEqual(p.stages[1]!.dependencies.map((d) => d.hint), [
      '"biuld" is not a stage defined before line 3; did you mean "build"?',
      '"nginx" is not a stage defined before line 4',
      undefined,
    ]);
    assert.equal(p.stages[1]!.dependencies[0]!.source.kind, 'image');
  });

  test('a number in RUN --mount from= is an image name, as BuildKit reads it, with a hint', () => {
    const d = plan('FROM scratch\nFROM scratch\nRUN --mount=from=0,target=/m true\n').stages[1]!.dependencies[0]!;
    assert.equal(show(d.source), 'image 0 = docker.io/library/0:latest');
    assert.match(d.hint ?? '', /takes stage names, not indexes/);
  });

  test('ONBUILD triggers of the base stage are edges of the stage built on it, not of their own stage', () => {
    const p = plan('FROM scratch AS src\nFROM scratch AS base\nONBUILD COPY --from=src /a /a\nFROM base\n');
    assert.deepEqual(p.stages[1]!.dependencies, []);
    assert.deepEqual(p.stages[2]!.dependencies.map((d) => [d.instruction.kind, d.location.line, show(d.source)]), [['ONBUILD', 3, 'stage 0']]);
    assert.deepEqual(p.stages[2]!.needs, [0, 1]);
  });

  const errors: [string, string, string, number, number, RegExp][] = [
    ['an index past the last stage', 'FROM scratch\nFROM scratch\nCOPY --from=2 /a /a\n', 'STAGE_INDEX_INVALID', 3, 6, /invalid stage index 2 in --from: the Dockerfile has stages 0 to 1/],
    ['a negative index', 'FROM scratch\nCOPY --from=-1 /a /a\n', 'STAGE_INDEX_INVALID', 2, 6, /invalid stage index -1/],
    ['a near-miss that is no valid image either', 'FROM scratch AS build\nFROM scratch\nCOPY --from=Biuld /a /a\n', 'FROM_INVALID', 3, 6, /--from=Biuld names no stage and no valid image: "Biuld" is not a stage defined before line 3; did you mean "build"\?/],
  ];
  for (const [what, text, code, line, column, message] of errors) {
    test(what, () => {
      const f = failure(() => plan(text));
      assert.deepEqual([f.code, f.line, f.column], [code, line, column], f.message);
      assert.match(f.message, message);
    });
  }
});

describe('reachability', () => {
  const DF = `FROM scratch AS base
FROM registry.invalid/no/such-image:404 AS unused
COPY --from=base /a /a
FROM base AS build
FROM scratch
COPY --from=build /a /a
`;
  test('stages the target needs through FROM and --from; an unused stage is listed but skipped, its image not planned', () => {
    const p = plan(DF);
    assert.deepEqual(p.stages.map((s) => s.reachable), [true, false, true, true]);
    assert.deepEqual(p.images, []);
    assert.equal(show(p.stages[1]!.base), 'image registry.invalid/no/such-image:404 = registry.invalid/no/such-image:404');
  });

  test('--target naming that stage makes it needed and lists its image (fetching is the executor\'s job)', () => {
    const p = plan(DF, { target: 'unused' });
    assert.deepEqual(p.stages.map((s) => s.reachable), [true, true, false, false]);
    assert.deepEqual(p.images.map((i) => [i.name, i.ref.registry, i.ref.repository, i.ref.tag, i.platform, i.stages]), [
      ['registry.invalid/no/such-image:404', 'registry.invalid', 'no/such-image', '404', { os: 'linux', architecture: 'amd64' }, [1]],
    ]);
  });

  test('images come once per reference and platform, from bases and --from', () => {
    const p = plan('FROM alpine AS a\nFROM alpine:latest AS b\nCOPY --from=docker.io/library/alpine /x /x\nFROM --platform=linux/arm64 alpine AS c\nFROM scratch\nCOPY --from=a /1 /1\nCOPY --from=b /2 /2\nCOPY --from=c /3 /3\n');
    assert.deepEqual(p.images.map((i) => [i.name, i.platform.architecture, i.stages]), [['alpine', 'amd64', [0, 1]], ['alpine', 'arm64', [2]]]);
  });
});

describe('order', () => {
  test('cycles anywhere are errors, with the first edge located', () => {
    const DF = 'FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\nFROM scratch AS out\n';
    const f = failure(() => plan(DF));
    assert.deepEqual([f.code, f.line, f.column], ['STAGE_CYCLE', 2, 6]);
    assert.match(f.message, /circular dependency detected on stage "a": a --from b \(line 2\), b --from a \(line 4\)/);
  });

  test('a stage copying from itself, by name or index, is a cycle', () => {
    assert.equal(failure(() => plan('FROM scratch AS a\nCOPY --from=a /x /y\n')).code, 'STAGE_CYCLE');
    assert.equal(failure(() => plan('FROM scratch\nFROM scratch\nCOPY --from=1 /x /y\n')).code, 'STAGE_CYCLE');
  });

  test('a cycle through a FROM edge', () => {
    const f = failure(() => plan('FROM scratch AS a\nCOPY --from=b /x /x\nFROM a AS b\n'));
    assert.equal(f.code, 'STAGE_CYCLE');
    assert.match(f.message, /a --from b \(line 2\), b FROM a \(line 3\)/);
  });

  test('a needed stage copying from a later one is a forward reference; unneeded, it is not checked', () => {
    const DF = 'FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nFROM a AS out\n';
    const f = failure(() => plan(DF));
    assert.deepEqual([f.code, f.line, f.column], ['STAGE_FORWARD_REFERENCE', 2, 6]);
    assert.match(f.message, /cannot use stage "b" \(line 3\) in --from of stage "a" \(line 1\): it needs to be defined before/);
    assert.equal(failure(() => plan(DF, { target: 'b' })).code, 'none');
  });

  test('levels group stages whose needs are all in earlier levels; unneeded stages are left out', () => {
    const p = plan(`FROM scratch AS a
FROM scratch AS lone
FROM a AS b
FROM a AS c
FROM scratch AS d
COPY --from=c /c /c
COPY --from=b /b /b
FROM scratch AS e
COPY --from=lone / /
FROM d
`);
    assert.deepEqual(p.levels, [[0], [2, 3], [4], [6]]);
    assert.deepEqual(p.order, [0, 2, 3, 4, 6]);
    assert.deepEqual(p.stages.map((s) => s.needs), [[], [], [0], [0], [2, 3], [1], [4]]);
  });
});
