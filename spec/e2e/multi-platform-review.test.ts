/**
 * Review of the multi-platform build (issue 11): what a user of
 * `docker buildx build --platform` runs into. Every image here is made
 * from `FROM scratch` with COPY/LABEL only, so no emulator is needed; two
 * base images (linux/amd64 + linux/arm64, and linux/arm/v6 + linux/arm/v7)
 * are built and pushed to the real registry in `before`. Expected values
 * come from the registry (skopeo), GNU tar, node:zlib and node:crypto.
 *
 * The first eight tests pinned bugs the review found (fixed since: base
 * names kept per platform, variants compared and normalized, `local`,
 * per-platform folders for local/tar, index sizes, every platform's
 * warnings); the others pin behaviour that worked already.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LocalStore } from '../../lib/index.ts';
import { run, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { kiln, kilnOk, type KilnUser, newUser, sha256Of, storeEntries } from './registry-kit.ts';

const tmp = tempDir('kiln-mp-review-');
let reg: RunningRegistry;
/** FROM scratch, COPY hello.txt, LABEL target/arch/variant from the platform ARGs. */
let ctx: string;
/** Two-platform bases in the registry: this machine's + the other architecture, and arm/v6 + arm/v7. */
let base: string;
let vbase: string;

const HOST = process.arch === 'arm64' ? 'arm64' : 'amd64';
const OTHER = HOST === 'amd64' ? 'arm64' : 'amd64';

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}
interface IndexDoc {
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; platform?: Platform; annotations?: Record<string, string> }[];
}
interface ManifestDoc {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}
interface ConfigDoc {
  architecture: string;
  os: string;
  variant?: string;
  config: { Labels?: Record<string, string> };
}

const platformText = (p: Platform): string => [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');

/** A blob of an OCI layout, checked against its name by node:crypto. */
function blob(layout: string, digest: string): Buffer {
  const bytes = readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)));
  assert.equal(sha256Of(bytes), digest, `blob ${digest} of ${layout}`);
  return bytes;
}
const json = <T>(layout: string, digest: string): T => JSON.parse(blob(layout, digest).toString('utf8')) as T;

/** The layout's only top entry, and (when it is an index) the index. */
function layoutTop(layout: string): { entry: IndexDoc['manifests'][number]; index: IndexDoc | undefined } {
  const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as IndexDoc;
  assert.equal(top.manifests.length, 1, `one entry in ${layout}/index.json`);
  const entry = top.manifests[0]!;
  return { entry, index: entry.mediaType.includes('index') || entry.mediaType.includes('list') ? json<IndexDoc>(layout, entry.digest) : undefined };
}

/** The names in a gzip layer blob, by GNU tar. */
function layerNames(layout: string, digest: string): string[] {
  blob(layout, digest);
  return run('tar', ['-tzf', join(layout, 'blobs', 'sha256', digest.slice(7))]).trim().split('\n').filter((l) => l !== '');
}

/** `kiln inspect` of a name in the user's store (the config JSON). */
async function inspect(u: KilnUser, name: string, platform?: string): Promise<ConfigDoc> {
  return JSON.parse((await kilnOk(['inspect', ...(platform ? ['--platform', platform] : []), name], u.env)).stdout) as ConfigDoc;
}

/** A build context with a Dockerfile and files. */
function context(name: string, dockerfile: string[], files: Record<string, string> = {}): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  ctx = context('ctx', [
    'FROM scratch',
    'ARG TARGETPLATFORM TARGETARCH TARGETVARIANT',
    'COPY hello.txt /hello.txt',
    'LABEL target=$TARGETPLATFORM arch=$TARGETARCH variant=$TARGETVARIANT',
  ], { 'hello.txt': 'hello\n' });
  base = `${reg.host}/review/base:1`;
  vbase = `${reg.host}/review/vbase:1`;
  const b = context('base', ['FROM scratch', 'ARG TARGETARCH', 'COPY b.txt /b-$TARGETARCH.txt'], { 'b.txt': 'base\n' });
  const v = context('vbase', ['FROM scratch', 'ARG TARGETVARIANT', 'COPY b.txt /b-$TARGETVARIANT.txt'], { 'b.txt': 'vbase\n' });
  const builder = newUser(tmp.dir, 'builder');
  await Promise.all([
    kilnOk(['build', '-q', '--platform', `linux/${HOST},linux/${OTHER}`, '--push', '-t', base, b], builder.env),
    kilnOk(['build', '-q', '--platform', 'linux/arm/v6,linux/arm/v7', '--push', '-t', vbase, v], builder.env),
  ]);
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

// ---- Bugs found in the review: these fail until fixed ----

test('a base this machine has in the store keeps its name when a multi-platform build pulls the other platform of it', async () => {
  // Was: keepPulledBases compared only the pulls, so the one pull (the other platform's) took the
  // name from the local image of this machine's platform.
  const u = newUser(tmp.dir);
  await kilnOk(['pull', '-q', base], u.env);
  assert.equal((await inspect(u, base)).architecture, HOST, 'kiln pull stores this machine\'s image');
  const app = context('app-rename', [`FROM ${base}`, 'LABEL app=1']);
  await kilnOk(['build', '-q', '--platform', `linux/${HOST},linux/${OTHER}`, '-t', 'review/app:1', app], u.env);
  assert.equal((await inspect(u, base)).architecture, HOST, `${base} must still name the linux/${HOST} image (kiln run and the next build use it)`);
  const named = storeEntries(u.home).filter((e) => e.annotations?.['org.opencontainers.image.ref.name'] === base);
  const hostManifest = (JSON.parse(await skopeoInspect(reg, 'review/base:1', { raw: true })) as IndexDoc).manifests.find((m) => m.platform?.architecture === HOST)!;
  assert.deepEqual(named.map((e) => e.digest), [hostManifest.digest], 'the name points at the registry\'s linux/' + HOST + ' manifest');
});

test('a base stored for linux/arm/v7 is not used for a linux/arm/v6 target (the variant counts)', async () => {
  // Was: the store lookup compared os and architecture only, so the v7 image was taken for v6 (a
  // MULTI_PLATFORM_CONFLICT blaming a FROM --platform the Dockerfile does not have).
  const u = newUser(tmp.dir);
  await kilnOk(['pull', '-q', '--platform', 'linux/arm/v7', vbase], u.env);
  const app = context('app-variant', [`FROM ${vbase}`, 'LABEL app=1']);
  const out = join(tmp.dir, 'variant-layout');
  const r = await kiln(['build', '-q', '--platform', 'linux/arm/v6,linux/arm/v7', '-o', `type=oci,dest=${out},tar=false`, app], u.env);
  assert.equal(r.status, 0, r.stderr);
  const registryIndex = JSON.parse(await skopeoInspect(reg, 'review/vbase:1', { raw: true })) as IndexDoc;
  const { index } = layoutTop(out);
  assert.deepEqual(index!.manifests.map((m) => platformText(m.platform!)), ['linux/arm/v6', 'linux/arm/v7']);
  for (const m of index!.manifests) {
    const want = registryIndex.manifests.find((b) => b.platform?.variant === m.platform!.variant)!;
    const baseManifest = JSON.parse(await skopeoInspect(reg, `review/vbase@${want.digest}`, { raw: true })) as ManifestDoc;
    const manifest = json<ManifestDoc>(out, m.digest);
    assert.deepEqual(manifest.layers.map((l) => l.digest), baseManifest.layers.map((l) => l.digest), `the ${platformText(m.platform!)} image is built on the registry's ${platformText(m.platform!)} base`);
    assert.equal(json<ConfigDoc>(out, manifest.config.digest).variant, m.platform!.variant);
  }
});

test('linux/arm64 and linux/arm64/v8 are one platform, as buildx normalizes them: one arm64 image in the index', async () => {
  // Was: --platform values deduped without containerd's Normalize (buildx normalizes), so arm64 was built twice.
  const out = join(tmp.dir, 'arm64-v8-layout');
  await kilnOk(['build', '-q', '--platform', 'linux/amd64,linux/arm64,linux/arm64/v8', '-o', `type=oci,dest=${out},tar=false`, ctx], newUser(tmp.dir).env);
  const { index } = layoutTop(out);
  assert.ok(index !== undefined, 'an index');
  const archs = index.manifests.map((m) => m.platform!.architecture);
  assert.deepEqual(archs, ['amd64', 'arm64'], `platforms: ${index.manifests.map((m) => platformText(m.platform!)).join(', ')}`);
});

test('linux/arm and linux/arm/v7 are one platform, and its image says variant v7 (buildx normalizes linux/arm to linux/arm/v7)', async () => {
  // Was: `linux/arm` stayed variant-less: a second arm image in the index, without TARGETVARIANT.
  const out = join(tmp.dir, 'arm-v7-layout');
  await kilnOk(['build', '-q', '--platform', 'linux/amd64,linux/arm,linux/arm/v7', '-o', `type=oci,dest=${out},tar=false`, ctx], newUser(tmp.dir).env);
  const { index } = layoutTop(out);
  assert.deepEqual(index!.manifests.map((m) => platformText(m.platform!)), ['linux/amd64', 'linux/arm/v7']);
  const arm = json<ManifestDoc>(out, index!.manifests[1]!.digest);
  const config = json<ConfigDoc>(out, arm.config.digest);
  assert.equal(config.variant, 'v7');
  assert.equal(config.config.Labels?.variant, 'v7');
  assert.equal(config.config.Labels?.target, 'linux/arm/v7');
});

test('--platform local is this machine\'s platform (buildx\'s word), alone and in a list', async () => {
  // Was: "local" went to parsePlatform: PLATFORM_INVALID.
  const u = newUser(tmp.dir);
  const one = join(tmp.dir, 'local-one');
  const r = await kiln(['build', '-q', '--platform', 'local', '-o', `type=oci,dest=${one},tar=false`, ctx], u.env);
  assert.equal(r.status, 0, r.stderr);
  const { entry } = layoutTop(one);
  assert.equal(entry.platform?.architecture, HOST);
  const two = join(tmp.dir, 'local-two');
  await kilnOk(['build', '-q', '--platform', `local,linux/${OTHER}`, '-o', `type=oci,dest=${two},tar=false`, ctx], u.env);
  assert.deepEqual(layoutTop(two).index!.manifests.map((m) => platformText(m.platform!)), [`linux/${HOST}`, `linux/${OTHER}`]);
});

test('-o type=local and type=tar of a multi-platform build hold one folder per platform (linux_amd64/, linux_arm64/)', async () => {
  // BuildKit's local and tar exporters split by platform (platform-split, on by default for
  // several platforms); only type=docker is refused.
  const u = newUser(tmp.dir);
  const dir = join(tmp.dir, 'split-dir');
  const r = await kiln(['build', '-q', '--platform', 'linux/amd64,linux/arm64', '-o', `type=local,dest=${dir}`, ctx], u.env);
  assert.equal(r.status, 0, r.stderr);
  for (const p of ['linux_amd64', 'linux_arm64']) assert.equal(readFileSync(join(dir, p, 'hello.txt'), 'utf8'), 'hello\n');
  const file = join(tmp.dir, 'split.tar');
  await kilnOk(['build', '-q', '--platform', 'linux/amd64,linux/arm64', '-o', `type=tar,dest=${file}`, ctx], u.env);
  const names = run('tar', ['-tf', file]).split('\n').filter((l) => l.endsWith('hello.txt')).sort();
  assert.deepEqual(names, ['linux_amd64/hello.txt', 'linux_arm64/hello.txt']);
});

test('kiln images gives an index kiln copy --all-platforms stored its images\' size, not 0B', async () => {
  // Was: an index tagged without the size annotation (kiln copy) was listed as 0 B though every blob is there.
  const u = newUser(tmp.dir);
  await kilnOk(['copy', '-q', '--all-platforms', `docker://${base}`, base], u.env);
  const [summary] = (await new LocalStore(u.home).list()).filter((s) => s.name === base);
  assert.ok(summary !== undefined && summary.platforms !== undefined, 'the index is listed');
  let want = 0;
  const index = json<IndexDoc>(u.home, summary.descriptor.digest);
  for (const m of index.manifests) for (const l of json<ManifestDoc>(u.home, m.digest).layers) want += gunzipSync(blob(u.home, l.digest)).length;
  assert.ok(want > 0);
  assert.equal(summary.size, want, 'the images\' uncompressed layer sizes, summed (as for an index kiln built)');
});

test('the warnings of a multi-platform build are every platform\'s, once: a stage only arm64 reaches is checked, its build arg is consumed', async () => {
  // Was: warnings and unused build args came from the first platform's plan only, so with
  // `FROM build-${TARGETARCH}` what arm64 alone reaches was not checked and its ARG was called unused.
  const dir = context('per-platform-warnings', [
    'FROM scratch AS build-amd64',
    'COPY f /amd',
    'FROM scratch AS build-arm64',
    'ARG ONLY_ARM',
    'COPY f /arm-$ONLY_ARM$NOPE',
    'FROM build-${TARGETARCH} AS final',
    'LABEL x=1',
  ], { f: 'x\n' });
  const u = newUser(tmp.dir);
  for (const order of ['linux/amd64,linux/arm64', 'linux/arm64,linux/amd64']) {
    const r = await kilnOk(['build', '--progress=plain', '--build-arg', 'ONLY_ARM=yes', '--platform', order, '-o', `type=oci,dest=${join(tmp.dir, `warn-${order.replace(/\W/g, '-')}`)}`, dir], u.env);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('WARNING:'));
    assert.deepEqual(warnings, ['WARNING: Dockerfile:5: UndefinedVar: Usage of undefined variable \'$NOPE\''], `--platform ${order}:\n${r.stderr}`);
  }
});

// ---- Behaviour that works (kept as regression tests) ----

test('the same platform given twice builds one image, not an index (buildx dedupes)', async () => {
  const out = join(tmp.dir, 'twice-layout');
  const meta = join(tmp.dir, 'twice-meta.json');
  await kilnOk(['build', '-q', '--platform', 'linux/amd64,linux/amd64', '--platform', 'linux/amd64', '--metadata-file', meta, '-o', `type=oci,dest=${out},tar=false`, ctx], newUser(tmp.dir).env);
  const { entry, index } = layoutTop(out);
  assert.equal(index, undefined);
  assert.equal(entry.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  const manifest = json<ManifestDoc>(out, entry.digest);
  assert.equal(json<ConfigDoc>(out, manifest.config.digest).architecture, 'amd64');
  const md = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>;
  assert.equal(md['containerimage.digest'], entry.digest);
  assert.equal(md['containerimage.config.digest'], manifest.config.digest);
});

test('a failure in the second platform\'s run writes nothing: no -o output, the store\'s tags as they were, nothing pushed', async () => {
  const u = newUser(tmp.dir);
  const dir = context('fails-second', ['FROM scratch', 'ARG TARGETARCH', 'COPY only-$TARGETARCH.txt /'], { [`only-${HOST}.txt`]: 'x\n' });
  await kilnOk(['build', '-q', '--platform', `linux/${HOST}`, '-t', 'review/keep:1', dir], u.env);
  const entries = storeEntries(u.home);
  const out = join(tmp.dir, 'fails-layout');
  const r = await kiln(['build', '--progress=plain', '--platform', `linux/${HOST},linux/${OTHER}`, '-t', 'review/keep:1', '--push', '-t', `${reg.host}/review/fails:1`, '-o', `type=oci,dest=${out},tar=false`, dir], u.env);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`ERROR: .*only-${OTHER}\\.txt`));
  assert.match(r.stderr, new RegExp(`\\[linux/${HOST} stage-0 2/2\\]`), 'the first platform was built');
  assert.equal(existsSync(out), false);
  assert.deepEqual(storeEntries(u.home), entries);
  const tags = await fetch(`${reg.url}/v2/review/fails/tags/list`);
  assert.equal(tags.status, 404);
});

test('an index copied into the store (kiln copy --all-platforms) is a base for both platforms; pushed to two names, rmi by ID, prune, fsck', async () => {
  const u = newUser(tmp.dir);
  await kilnOk(['copy', '-q', '--all-platforms', `docker://${base}`, base], u.env);
  const app = context('app-from-index', [`FROM ${base}`, 'COPY hello.txt /app.txt'], { 'hello.txt': 'app\n' });
  const meta = join(tmp.dir, 'from-index-meta.json');
  const r = await kilnOk(['build', '--progress=plain', '--platform', `linux/${HOST},linux/${OTHER}`, '--metadata-file', meta,
    '--push', '-t', `${reg.host}/review/app:1`, '-t', `${reg.host}/review/app2:1`, app], u.env);
  assert.doesNotMatch(r.stderr, /#pull /, 'both bases came from the store');
  const digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!;
  const baseIndex = JSON.parse(await skopeoInspect(reg, 'review/base:1', { raw: true })) as IndexDoc;
  for (const name of ['review/app:1', 'review/app2:1']) {
    const raw = await skopeoInspect(reg, name, { raw: true });
    assert.equal(sha256Of(raw), digest, name);
    for (const m of (JSON.parse(raw) as IndexDoc).manifests) {
      const arch = m.platform!.architecture;
      const manifest = JSON.parse(await skopeoInspect(reg, `review/app@${m.digest}`, { raw: true })) as ManifestDoc;
      const baseManifest = JSON.parse(await skopeoInspect(reg, `review/base@${baseIndex.manifests.find((b) => b.platform?.architecture === arch)!.digest}`, { raw: true })) as ManifestDoc;
      assert.deepEqual(manifest.layers.slice(0, -1).map((l) => l.digest), baseManifest.layers.map((l) => l.digest), `${name} ${arch} is on the ${arch} base`);
    }
  }
  // The store: the index under its ID; rmi by that ID, prune frees its blobs, fsck finds nothing wrong.
  const ids = (await kilnOk(['images', '-q'], u.env)).stdout.trim().split('\n');
  const appId = digest.slice(7, 19);
  assert.ok(ids.includes(appId), `kiln images -q lists ${appId}: ${ids.join(' ')}`);
  const rmi = await kilnOk(['rmi', '-f', appId], u.env);
  assert.match(rmi.stdout, new RegExp(`Deleted: ${digest}`));
  await kilnOk(['prune'], u.env);
  assert.equal(existsSync(join(u.home, 'blobs', 'sha256', digest.slice(7))), false, 'prune removed the index blob');
  assert.match((await kilnOk(['fsck'], u.env)).stdout, /no problems/);
  assert.equal((await inspect(u, base, `linux/${OTHER}`)).architecture, OTHER, 'the base index is untouched');
});

test('COPY --from=<image> takes each target platform\'s image of a registry index', async () => {
  const dir = context('copy-from-image', ['FROM scratch', `COPY --from=${base} / /from/`]);
  const out = join(tmp.dir, 'copy-from-layout');
  await kilnOk(['build', '-q', '--platform', `linux/${HOST},linux/${OTHER}`, '-o', `type=oci,dest=${out},tar=false`, dir], newUser(tmp.dir).env);
  const { index } = layoutTop(out);
  assert.deepEqual(index!.manifests.map((m) => m.platform!.architecture), [HOST, OTHER]);
  for (const m of index!.manifests) {
    const [layer] = json<ManifestDoc>(out, m.digest).layers;
    assert.deepEqual(layerNames(out, layer!.digest), ['from/', `from/b-${m.platform!.architecture}.txt`]);
  }
});

test('--cache-to from a two-platform build gives a fresh runner every step of both platforms CACHED, the same index', async () => {
  const cache = `${reg.host}/review/cache:1`;
  const a = join(tmp.dir, 'cache-a.tar');
  const b = join(tmp.dir, 'cache-b.tar');
  await kilnOk(['build', '-q', '--platform', `linux/${HOST},linux/${OTHER}`, '--cache-to', `type=registry,ref=${cache},mode=max`, '-o', `type=oci,dest=${a}`, ctx], newUser(tmp.dir).env);
  const r = await kilnOk(['build', '--progress=plain', '--platform', `linux/${HOST},linux/${OTHER}`, '--cache-from', `type=registry,ref=${cache}`, '-o', `type=oci,dest=${b}`, ctx], newUser(tmp.dir).env);
  const steps = [...r.stderr.matchAll(/^#(\d+) \[([^\]]+)\]/gm)];
  assert.equal(steps.length, 6, r.stderr);
  for (const [, id] of steps) assert.match(r.stderr, new RegExp(`^#${id} CACHED$`, 'm'));
  const top = (file: string): string => (JSON.parse(run('tar', ['-xOf', file, 'index.json'])) as IndexDoc).manifests[0]!.digest;
  assert.equal(top(b), top(a));
});
