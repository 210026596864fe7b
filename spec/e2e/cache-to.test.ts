/**
 * `kiln build --cache-to` (issue 10, export): after a build, its cache
 * entries go to the real registry (or an OCI layout) as kiln's cache
 * artifact. Checked from outside kiln: skopeo reads the artifact manifest,
 * its config and layer blobs are fetched straight from the registry and
 * hashed here, and the keys are the ones the build filed in its local
 * cache (mode=max: every stage; mode=min: the target stage only).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { startFaultProxy } from '../registry/fault-proxy.ts';
import { assertOneError, kiln, kilnOk, newUser, storeEntries } from './registry-kit.ts';

const tmp = tempDir('kiln-cache-to-');
let reg: RunningRegistry;
let ctx: string;
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'a.txt'), 'from stage one\n');
  writeFileSync(join(ctx, 'b.txt'), 'from stage two\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch AS one\nCOPY a.txt /a.txt\n\nFROM scratch AS two\nCOPY b.txt /b.txt\nCOPY --from=one /a.txt /a-copy.txt\nENV X=1\n');
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

interface CacheDoc { entries: Record<string, { layer?: { digest: string } }>; version: number }

/** The keys the build filed in its local cache (a fresh home: this build's only). */
const localKeys = (home: string): string[] => readdirSync(join(home, 'cache', 'steps')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();

async function getBlob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `${repo} ${digest}`);
  return Buffer.from(await res.arrayBuffer());
}

test('mode=max to a registry: every stage\'s steps, their layers stored beside them', async () => {
  const u = newUser(tmp.dir);
  await kilnOk(['build', '-q', '-t', 'cached:1', '--cache-to', `type=registry,ref=${reg.host}/cache/app:max,mode=max`, ctx], u.env);
  const manifest = JSON.parse(await skopeoInspect(reg, 'cache/app:max', { raw: true })) as { artifactType: string; config: { digest: string; mediaType: string }; layers: { digest: string }[] };
  assert.equal(manifest.artifactType, 'application/vnd.kiln.build-cache.v1');
  const configBytes = await getBlob('cache/app', manifest.config.digest);
  assert.equal(sha(configBytes), manifest.config.digest);
  const config = JSON.parse(configBytes.toString('utf8')) as CacheDoc;
  assert.equal(config.version, 1);
  const keys = Object.keys(config.entries).sort();
  assert.deepEqual(keys, localKeys(u.home), 'the keys the build filed locally, all of them');
  assert.equal(keys.length, 4, 'COPY; COPY, COPY --from, ENV');
  // Each entry's file in the local cache holds the same JSON.
  for (const k of keys) assert.deepEqual(config.entries[k], JSON.parse(readFileSync(join(u.home, 'cache', 'steps', `${k}.json`), 'utf8')));
  const named = new Set(Object.values(config.entries).flatMap((e) => (e.layer ? [e.layer.digest] : [])));
  assert.deepEqual(new Set(manifest.layers.map((l) => l.digest)), named);
  assert.equal(named.size, 3, 'three COPY layers');
  for (const l of manifest.layers) assert.equal(sha(await getBlob('cache/app', l.digest)), l.digest);
  assert.ok(storeEntries(u.home).length > 0, 'the image itself is in the local store as usual');
});

test('mode=min (the default) to an OCI layout: the target stage\'s steps only', async () => {
  const u = newUser(tmp.dir);
  const dir = join(tmp.dir, 'layout-cache');
  await kilnOk(['build', '-q', '--cache-to', `type=local,dest=${dir}`, ctx], u.env);
  const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${dir}:latest`])) as { artifactType: string; config: { digest: string } };
  assert.equal(manifest.artifactType, 'application/vnd.kiln.build-cache.v1');
  const configBytes = readFileSync(join(dir, 'blobs', 'sha256', manifest.config.digest.slice(7)));
  assert.equal(sha(configBytes), manifest.config.digest);
  const keys = Object.keys((JSON.parse(configBytes.toString('utf8')) as CacheDoc).entries);
  assert.equal(keys.length, 3, 'stage two: COPY, COPY --from, ENV');
  assert.ok(keys.every((k) => localKeys(u.home).includes(k)));
});

test('a --cache-to kiln cannot use fails before anything is built', async () => {
  const u = newUser(tmp.dir);
  const r = await kiln(['build', '-q', '-t', 'never:1', '--cache-to', 'type=gha', ctx], u.env);
  assertOneError(r, 'CACHE_SPEC_INVALID');
  assert.deepEqual(storeEntries(u.home), []);
});

test('--cache-from on a second machine (an empty KILN_HOME): every step is a hit, and the image is the same', async () => {
  const a = newUser(tmp.dir, 'runner-a');
  const b = newUser(tmp.dir, 'runner-b');
  const metaA = join(tmp.dir, 'a.json');
  const metaB = join(tmp.dir, 'b.json');
  await kilnOk(['build', '-q', '--metadata-file', metaA, '--cache-to', `type=registry,ref=${reg.host}/cache/app:ab,mode=max`, ctx], a.env);
  const r = await kilnOk(['build', '--progress=plain', '-t', 'from-cache:b', '--metadata-file', metaB, '--cache-from', `${reg.host}/cache/app:ab`, ctx], b.env);
  const steps = r.stderr.split('\n').filter((l) => /^#\d+ (CACHED|DONE)/.test(l));
  assert.equal(steps.length, 4, r.stderr);
  assert.ok(steps.every((l) => / CACHED$/.test(l)), r.stderr);
  const digest = (f: string): string => (JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>)['containerimage.digest']!;
  assert.equal(digest(metaB), digest(metaA));
  // The image B keeps has its layers (fetched from the cache's repository): it copies out of B's store whole, and skopeo reads it.
  const out = join(tmp.dir, 'b-out');
  await kilnOk(['copy', 'from-cache:b', `oci:${out}:b`], b.env);
  const layers = (JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${out}:b`])) as { layers: { digest: string }[] }).layers;
  assert.equal(layers.length, 2);
  for (const l of layers) assert.equal(sha(readFileSync(join(out, 'blobs', 'sha256', l.digest.slice(7)))), l.digest);
});

test('a --cache-from that cannot be read is a warning, and the build goes on', async () => {
  const u = newUser(tmp.dir);
  const r = await kilnOk(['build', '--progress=plain', '--cache-from', `${reg.host}/cache/none:1`, '--cache-from', `type=local,src=${join(tmp.dir, 'no-such-dir')}`, ctx], u.env);
  assert.equal(r.stderr.split('\n').filter((l) => /^WARNING: /.test(l)).length, 2, r.stderr);
  assert.ok(r.stderr.split('\n').some((l) => /^#\d+ DONE/.test(l)), 'the steps ran');
});

test('--cache-from with --push to the same registry: every step CACHED, no layer downloaded, the layers mounted, the same digest', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    const a = newUser(tmp.dir, 'push-a');
    const b = newUser(tmp.dir, 'push-b');
    const metaA = join(tmp.dir, 'push-a.json');
    const metaB = join(tmp.dir, 'push-b.json');
    await kilnOk(['build', '-q', '--metadata-file', metaA, '--push', '-t', `${reg.host}/app/a:1`, '--cache-to', `type=registry,ref=${reg.host}/cache/app:push,mode=max`, ctx], a.env);
    const r = await kilnOk(['build', '--progress=plain', '--metadata-file', metaB, '--push', '-t', `${proxy.host}/app/b:1`, '--cache-from', `${proxy.host}/cache/app:push`, ctx], b.env);
    assert.ok(r.stderr.split('\n').filter((l) => /^#\d+ (CACHED|DONE)/.test(l)).every((l) => / CACHED$/.test(l)), r.stderr);
    const digest = (f: string): string => (JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>)['containerimage.digest']!;
    assert.equal(digest(metaB), digest(metaA));
    const manifest = JSON.parse(await skopeoInspect(reg, 'app/b:1', { raw: true })) as { layers: { digest: string }[] };
    assert.equal(sha(await skopeoInspect(reg, 'app/b:1', { raw: true })), digest(metaA), 'the registry holds the manifest B built');
    const layerGets = proxy.records.filter((x) => x.method === 'GET' && manifest.layers.some((l) => x.path.endsWith(`/blobs/${l.digest}`)));
    assert.deepEqual(layerGets, [], 'no layer blob was downloaded');
    const mounts = proxy.records.filter((x) => x.method === 'POST' && x.query.has('mount'));
    assert.equal(mounts.length, manifest.layers.length, 'each layer mounted from the cache\'s repository');
    assert.match(r.stderr, /WARNING: the image is pushed but not kept in the local store/);
    for (const l of manifest.layers) assert.equal(sha(await getBlob('app/b', l.digest)), l.digest);
  } finally {
    await proxy.stop();
  }
});

test('three runners export to one cache ref at once; a fourth gets every step from it', async () => {
  const ref = `${reg.host}/cache/app:shared`;
  const runners = [1, 2, 3].map((i) => newUser(tmp.dir, `concurrent-${i}`));
  const runs = await Promise.all(runners.map((u) => kiln(['build', '-q', '--cache-to', `type=registry,ref=${ref},mode=max`, ctx], u.env)));
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  // The tag names one whole cache: its config and every layer it lists are there.
  const manifest = JSON.parse(await skopeoInspect(reg, 'cache/app:shared', { raw: true })) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) assert.equal(sha(await getBlob('cache/app', d)), d);
  const fourth = newUser(tmp.dir, 'concurrent-4');
  const r = await kilnOk(['build', '--progress=plain', '--cache-from', ref, ctx], fourth.env);
  const steps = r.stderr.split('\n').filter((l) => /^#\d+ (CACHED|DONE)/.test(l));
  assert.ok(steps.length === 4 && steps.every((l) => / CACHED$/.test(l)), r.stderr);
});

test('--cache-from one repository and --cache-to another: layers no step read are mounted, not downloaded', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    const a = newUser(tmp.dir, 'relay-a');
    const b = newUser(tmp.dir, 'relay-b');
    await kilnOk(['build', '-q', '--cache-to', `type=registry,ref=${proxy.host}/cache/relay:1,mode=max`, ctx], a.env);
    const mark = proxy.records.length;
    await kilnOk(['build', '-q', '--cache-from', `${proxy.host}/cache/relay:1`, '--cache-to', `type=registry,ref=${proxy.host}/other/relay:1,mode=max`, ctx], b.env);
    const manifest = JSON.parse(await skopeoInspect(reg, 'other/relay:1', { raw: true })) as { config: { digest: string }; layers: { digest: string }[] };
    assert.equal(manifest.layers.length, 3);
    for (const l of manifest.layers) assert.equal(sha(await getBlob('other/relay', l.digest)), l.digest);
    const config = JSON.parse((await getBlob('other/relay', manifest.config.digest)).toString('utf8')) as CacheDoc;
    assert.equal(Object.keys(config.entries).length, 4);
    // Every layer is mounted from cache/relay; only the image's two layers were downloaded (for B's local copy of the image):
    // stage one's layer, which no step of B read, never was.
    const later = proxy.records.slice(mark);
    const mounted = new Set(later.filter((x) => x.method === 'POST' && x.query.get('from') === 'cache/relay').map((x) => x.query.get('mount')));
    assert.deepEqual(mounted, new Set(manifest.layers.map((l) => l.digest)));
    const downloaded = new Set(later.filter((x) => x.method === 'GET' && manifest.layers.some((l) => x.path.endsWith(`/blobs/${l.digest}`))).map((x) => x.path));
    assert.equal(downloaded.size, 2);
  } finally {
    await proxy.stop();
  }
});
