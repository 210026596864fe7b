/**
 * The executor runs what the plan resolved: the stages the target needs, in
 * the plan's order, each from its planned base; a stage FROM another
 * inherits that stage's ARGs (BuildKit's dispatchState.init copies the base
 * stage's state and buildArgs; documented since moby/buildkit#5381); the
 * automatic platform ARGs reach a stage through `ARG NAME`. Through the
 * real build(), results read back from the image config.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildError, buildIt } from '../executor/build-kit.ts';

// The host architecture in OCI terms, from uname rather than from Node.
const UNAME: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', armv7l: 'arm', i686: '386', s390x: 's390x', ppc64le: 'ppc64le', riscv64: 'riscv64' };
const machine = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();

describe('executing the plan', () => {
  test('a stage FROM another inherits its ARGs (values and declarations), not only its ENV', async () => {
    const b = await buildIt({}, 'FROM scratch AS base\nARG NAME="joe"\nARG EMPTY\nENV E=env\nFROM base AS build\nLABEL hello="hello $NAME!" e=$E empty=${EMPTY-unset}\n');
    assert.deepEqual(b.config.Labels, { hello: 'hello joe!', e: 'env', empty: 'unset' });
    assert.equal(b.config.Env?.some((e) => e.startsWith('NAME=')), false, 'ARGs stay out of the config');
  });

  test('a stage not built FROM the declaring stage does not see its ARGs', async () => {
    const b = await buildIt({}, 'FROM scratch AS base\nARG NAME=joe\nFROM scratch\nLABEL hello=${NAME:-nobody}\n');
    assert.deepEqual(b.config.Labels, { hello: 'nobody' });
  });

  test('automatic platform ARGs: visible once declared, with the target platform\'s values', { skip: UNAME[machine] === undefined }, async () => {
    const b = await buildIt({}, 'FROM scratch\nLABEL before=${TARGETARCH:-unset}\nARG TARGETOS TARGETARCH TARGETPLATFORM\nLABEL os=$TARGETOS arch=$TARGETARCH platform=$TARGETPLATFORM\n');
    assert.deepEqual(b.config.Labels, { before: 'unset', os: 'linux', arch: UNAME[machine], platform: `linux/${UNAME[machine]}` });
  });

  test('only the stages the target needs run: an unused stage on a missing image is skipped', async () => {
    const DF = 'FROM registry.invalid/no/such-image:404 AS unused\nFROM scratch AS out\nLABEL a=b\n';
    assert.deepEqual((await buildIt({}, DF)).config.Labels, { a: 'b' });
    const f = await buildError({}, DF, { target: 'unused' });
    assert.notEqual(f.code, 'none', 'needed, its base is resolved at build time');
    assert.equal(f.line, 1);
  });

  test('plan errors stop the build before anything runs, with their line', async () => {
    const f = await buildError({}, 'FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n');
    assert.deepEqual([f.code, f.line], ['STAGE_CYCLE', 2]);
  });
});
