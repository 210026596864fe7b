/**
 * ARG scoping. Expectations from BuildKit's dockerfile2llb: defaultArgs
 * (platform.go: BUILDPLATFORM = Format(build), TARGETPLATFORM =
 * FormatAll(target), …OS/ARCH/VARIANT/OSVERSION, TARGETSTAGE = the target's
 * name or "default"; each overridable by a build arg), buildMetaArgs (global
 * ARGs: build arg, else the default expanded with the ARGs before it),
 * dispatchArg (stage ARG: build arg, else expanded default, else the global
 * value), proxyEnvFromBuildArgs (proxy build args matched case-insensitively)
 * and the integration tests testBuiltinArgs and testTargetStageNameArg. The
 * unused-build-arg warning is the classic builder's wording (BuildKit has
 * none): "[Warning] One or more build-args [foo] were not consumed".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stageArgValue, unusedBuildArgsMessage } from '../../lib/plan/index.ts';
import { AMD64, plan } from './plan-kit.ts';

const ARM_V7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
const platformArgs = (p: ReturnType<typeof plan>) => Object.fromEntries([...p.args.inherited].filter(([k]) => /^(BUILD|TARGET)/.test(k)));

describe('automatic platform ARGs', () => {
  test('values from the build and target platforms', () => {
    assert.deepEqual(platformArgs(plan('FROM scratch AS out\n', { targetPlatform: ARM_V7, buildPlatform: AMD64 })), {
      BUILDPLATFORM: 'linux/amd64',
      BUILDOS: 'linux',
      BUILDOSVERSION: '',
      BUILDARCH: 'amd64',
      BUILDVARIANT: '',
      TARGETPLATFORM: 'linux/arm/v7',
      TARGETOS: 'linux',
      TARGETOSVERSION: '',
      TARGETARCH: 'arm',
      TARGETVARIANT: 'v7',
      TARGETSTAGE: 'out',
    });
  });

  test('TARGETPLATFORM carries an OS version; BUILDPLATFORM does not (FormatAll vs Format)', () => {
    const win = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5458' };
    const a = platformArgs(plan('FROM scratch\n', { targetPlatform: win, buildPlatform: win }));
    assert.deepEqual([a.TARGETPLATFORM, a.BUILDPLATFORM, a.TARGETOSVERSION], ['windows(10.0.17763.5458)/amd64', 'windows/amd64', '10.0.17763.5458']);
  });

  test('TARGETSTAGE is --target as given, else the last stage\'s name, else "default"', () => {
    const DF = 'FROM scratch AS base\nFROM scratch AS final\n';
    assert.equal(plan(DF, { target: 'Base' }).args.inherited.get('TARGETSTAGE'), 'Base');
    assert.equal(plan(DF).args.inherited.get('TARGETSTAGE'), 'final');
    assert.equal(plan('FROM scratch AS base\nFROM scratch\n').args.inherited.get('TARGETSTAGE'), 'default');
  });

  test('usable in FROM without a declaration: image word and --platform', () => {
    const p = plan('FROM --platform=$BUILDPLATFORM alpine:$TARGETARCH AS build\nFROM build AS child\nFROM scratch\n', { targetPlatform: ARM_V7, buildPlatform: AMD64 });
    const base = p.stages[0]!.base;
    assert.equal(base.kind === 'image' ? base.name : base.kind, 'alpine:arm');
    assert.deepEqual(p.stages.map((s) => s.platform), [AMD64, AMD64, ARM_V7], 'a child stage runs on its base stage\'s platform; others on the target');
  });

  test('a build arg overrides an automatic ARG (and is not reported unused)', () => {
    const p = plan('FROM alpine:$TARGETARCH\n', { buildArgs: { TARGETARCH: 'riscv64' } });
    const base = p.stages[0]!.base;
    assert.equal(base.kind === 'image' ? base.name : '', 'alpine:riscv64');
    assert.deepEqual(p.unusedBuildArgs, []);
  });

  test('inside a stage they count only when declared: ARG NAME takes the automatic value', () => {
    const p = plan('FROM scratch\nARG TARGETARCH\n', { targetPlatform: ARM_V7 });
    assert.equal(stageArgValue(p.args, 'TARGETARCH', undefined, () => assert.fail('no default')), 'arm');
    assert.equal(stageArgValue(p.args, 'TARGETARCH', 'mine', (w) => w), 'mine', 'a default wins over the automatic value');
  });
});

describe('build args and defaults', () => {
  test('a global ARG default is expanded with the ARGs before it, and a build arg replaces it everywhere', () => {
    const DF = 'ARG V=1\nARG IMG=busybox:${V}\nFROM $IMG\n';
    const name = (p: ReturnType<typeof plan>) => (p.stages[0]!.base.kind === 'image' ? p.stages[0]!.base.name : '');
    assert.equal(name(plan(DF)), 'busybox:1');
    assert.equal(name(plan(DF, { buildArgs: { V: '2' } })), 'busybox:2');
    assert.equal(name(plan(DF, { buildArgs: { IMG: 'alpine' } })), 'alpine');
  });

  test('a stage ARG: the build arg, else its default (expanded lazily), else the global value, else none', () => {
    const p = plan('ARG G=global\nFROM scratch\n', { buildArgs: { B: 'cli' } });
    let expanded = 0;
    const x = (w: string) => (expanded++, `<${w}>`);
    assert.equal(stageArgValue(p.args, 'B', 'default', x), 'cli');
    assert.equal(expanded, 0, 'a default under a build arg is never expanded (its errors do not count)');
    assert.equal(stageArgValue(p.args, 'X', 'd', x), '<d>');
    assert.equal(stageArgValue(p.args, 'G', undefined, x), 'global');
    assert.equal(stageArgValue(p.args, 'NONE', undefined, x), undefined);
  });

  test('a global ARG without a value gives a stage nothing to inherit', () => {
    const p = plan('ARG G\nFROM scratch\n');
    assert.equal(p.args.inherited.has('G'), false);
    assert.deepEqual([...p.globalArgs], [['G', undefined]]);
  });
});

describe('proxy ARGs', () => {
  test('proxy build args (any case) are kept for RUN, need no ARG, and are never reported unused', () => {
    const p = plan('FROM scratch\n', { buildArgs: { http_proxy: 'hp', NO_PROXY: 'np', Https_Proxy: 'x', FOO: 'f' } });
    assert.deepEqual([...p.proxyEnv], [['Https_Proxy', 'x'], ['NO_PROXY', 'np'], ['http_proxy', 'hp']]);
    assert.deepEqual(p.unusedBuildArgs, ['FOO']);
  });

  test('they are not variables of the Dockerfile unless declared', () => {
    const p = plan('FROM scratch\nENV p=$http_proxy\n', { buildArgs: { http_proxy: 'hp' } });
    assert.deepEqual(p.warnings.map((w) => w.message), ["Usage of undefined variable '$http_proxy'"]);
    assert.equal(p.args.inherited.has('http_proxy'), false);
  });
});

describe('unused build args', () => {
  const DF = 'ARG GLOBAL\nFROM scratch AS used\nARG STAGE\nFROM scratch AS skipped\nARG SKIPPED\nFROM used\n';
  test('consumed by a global ARG or an ARG in a needed stage; sorted; the classic builder\'s message', () => {
    const p = plan(DF, { buildArgs: { STAGE: '1', GLOBAL: '1', zeta: '1', SKIPPED: '1', alpha: '1' } });
    assert.deepEqual(p.unusedBuildArgs, ['SKIPPED', 'alpha', 'zeta']);
    assert.equal(unusedBuildArgsMessage(p.unusedBuildArgs), '[Warning] One or more build-args [SKIPPED alpha zeta] were not consumed');
    assert.deepEqual(plan(DF, { buildArgs: { SKIPPED: '1' }, target: 'skipped' }).unusedBuildArgs, []);
  });
});
