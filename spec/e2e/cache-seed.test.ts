/**
 * Issue 10 with the seed's multi-stage build: runner A builds and pushes it
 * with `--cache-to mode=max`; runner B, an empty KILN_HOME sharing nothing
 * but the registry, builds the same Dockerfile and context with
 * `--cache-from` and `--push`: every step is CACHED, the pushed manifest is
 * A's, and B downloads no layer blob (counted at a proxy in front of the
 * real registry). Then app.go changes on B: only the steps from its COPY on
 * run again, and the Go toolchain's layer is fetched because the RUN needs it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pushBaseImages } from '../helpers/base-images.ts';
import { TOP, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { type FaultProxy, startFaultProxy } from '../registry/fault-proxy.ts';
import { kilnOk, newUser } from './registry-kit.ts';

const tmp = tempDir('kiln-cache-seed-');
let reg: RunningRegistry;
let proxy: FaultProxy;
let ctx: string;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  await pushBaseImages(reg);
  proxy = await startFaultProxy(reg.url);
  ctx = join(tmp.dir, 'seed');
  cpSync(join(TOP, 'testdata', 'seed'), ctx, { recursive: true });
  const dockerfile = readFileSync(join(ctx, 'Dockerfile'), 'utf8').replace(/^FROM (golang|alpine)/gm, `FROM ${proxy.host}/library/$1`);
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
  tmp.cleanup();
});

const digestOf = (file: string): string => (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)['containerimage.digest']!;
const stepLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /^#\d+ (CACHED|DONE)/.test(l));
const layerGets = (from: number, digests: readonly string[]): number =>
  proxy.records.slice(from).filter((r) => r.method === 'GET' && digests.some((d) => r.path.endsWith(`/blobs/${d}`))).length;

test('runner B: every step CACHED, the same pushed manifest, no layer downloaded; then app.go changes', async () => {
  const a = newUser(tmp.dir, 'runner-a');
  const b = newUser(tmp.dir, 'runner-b');
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const metaA = join(tmp.dir, 'a.json');
  const metaB = join(tmp.dir, 'b.json');
  const cache = `type=registry,ref=${proxy.host}/cache/seed:main,mode=max`;
  await kilnOk(['build', '-q', '--metadata-file', metaA, '--push', '-t', `${proxy.host}/seed/app:a`, '--cache-to', cache, ctx], { ...a.env, ...env });

  const mark = proxy.records.length;
  const rb = await kilnOk(['build', '--progress=plain', '--metadata-file', metaB, '--push', '-t', `${proxy.host}/seed/app:b`, '--cache-from', `${proxy.host}/cache/seed:main`, ctx], { ...b.env, ...env });
  const steps = stepLines(rb.stderr);
  assert.ok(steps.length === 6 && steps.every((l) => / CACHED$/.test(l)), rb.stderr);
  assert.equal(digestOf(metaB), digestOf(metaA));
  const raw = await skopeoInspect(reg, 'seed/app:b', { raw: true });
  assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, digestOf(metaA));
  const cacheManifest = JSON.parse(await skopeoInspect(reg, 'cache/seed:main', { raw: true })) as { layers: { digest: string }[] };
  const golang = JSON.parse(await skopeoInspect(reg, 'library/golang:1.9-alpine', { raw: true })) as { layers: { digest: string; size: number }[] };
  const allLayers = [...(JSON.parse(raw) as { layers: { digest: string }[] }).layers, ...cacheManifest.layers, ...golang.layers].map((l) => l.digest);
  assert.equal(layerGets(mark, allLayers), 0, 'runner B downloaded no layer blob');

  // app.go changes on B: the builder's WORKDIR stays CACHED, COPY app.go and the RUN run, and the toolchain is fetched for the RUN.
  appendFileSync(join(ctx, 'app.go'), '\n// changed on runner B\n');
  const mark2 = proxy.records.length;
  const rc = await kilnOk(['build', '--progress=plain', '--push', '-t', `${proxy.host}/seed/app:c`, '--cache-from', `${proxy.host}/cache/seed:main`, ctx], { ...b.env, ...env });
  const lines = rc.stderr.split('\n');
  const status = (pattern: RegExp): string => {
    const i = lines.findIndex((l) => pattern.test(l));
    assert.ok(i >= 0, `${pattern}: ${rc.stderr}`);
    const id = lines[i]!.split(' ')[0]!;
    return lines.find((l) => l.startsWith(`${id} `) && /(CACHED|DONE)/.test(l))!.replace(/^#\d+ /, '').split(' ')[0]!;
  };
  assert.equal(status(/\[builder 1\/3\] WORKDIR/), 'CACHED');
  assert.equal(status(/\[builder 2\/3\] COPY app\.go/), 'DONE');
  assert.equal(status(/\[builder 3\/3\] RUN/), 'DONE');
  const big = golang.layers.reduce((x, y) => (y.size > x.size ? y : x));
  assert.equal(layerGets(mark2, [big.digest]), 1, 'the toolchain layer, once, for the RUN');
  const rawC = await skopeoInspect(reg, 'seed/app:c', { raw: true });
  assert.notEqual(`sha256:${createHash('sha256').update(rawC).digest('hex')}`, digestOf(metaA), 'a new binary, a new image');
});
