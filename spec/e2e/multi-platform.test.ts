/**
 * Issue 11, the parts that need no emulator: `--platform a,b` builds one
 * image per platform and an index over them, written to an OCI layout or
 * archive, kept in the local store (`kiln images` shows its platforms) and
 * pushed to the real registry, where skopeo reads the index (`--raw`) and
 * each platform's image (`--override-arch`). Outputs that hold one image
 * refuse a multi-platform result before anything is built or written.
 * RUN-less foreign builds (COPY and metadata only) need no emulator.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { kiln, kilnOk, newUser } from './registry-kit.ts';

const tmp = tempDir('kiln-multi-platform-');
let reg: RunningRegistry;
let ctx: string;

interface IndexDoc {
  schemaVersion: number;
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string; variant?: string } }[];
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (layout: string, digest: string): Buffer => readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)));

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'hello.txt'), 'hello\n');
  // No RUN: nothing foreign is executed, so no emulator is needed for arm64.
  writeFileSync(join(ctx, 'Dockerfile'), [
    'FROM scratch',
    'ARG TARGETPLATFORM TARGETOS TARGETARCH BUILDPLATFORM',
    'COPY hello.txt /hello.txt',
    'LABEL target=$TARGETPLATFORM os=$TARGETOS arch=$TARGETARCH build=$BUILDPLATFORM',
    '',
  ].join('\n'));
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

test('--platform linux/amd64,linux/arm64 writes an OCI index of two images, each with its own platform args', async () => {
  const u = newUser(tmp.dir);
  const out = join(tmp.dir, 'layout');
  const meta = join(tmp.dir, 'meta.json');
  const r = await kilnOk(['build', '--progress=plain', '--platform', 'linux/amd64,linux/arm64', '-t', 'multi/app:1', '--metadata-file', meta, '-o', `type=oci,dest=${out},tar=false`, ctx], u.env);
  assert.match(r.stderr, /\[linux\/amd64 stage-0 1\/3\]/);
  assert.match(r.stderr, /\[linux\/arm64 stage-0 1\/3\]/);
  const top = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as IndexDoc;
  assert.equal(top.manifests.length, 1);
  assert.equal(top.manifests[0]!.mediaType, 'application/vnd.oci.image.index.v1+json');
  const indexBytes = blob(out, top.manifests[0]!.digest);
  assert.equal(sha(indexBytes), top.manifests[0]!.digest);
  const index = JSON.parse(indexBytes.toString('utf8')) as IndexDoc;
  assert.equal(index.schemaVersion, 2);
  assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'linux/arm64']);
  for (const m of index.manifests) {
    const manifestBytes = blob(out, m.digest);
    assert.equal(sha(manifestBytes), m.digest);
    assert.equal(manifestBytes.length, m.size);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string } };
    const config = JSON.parse(blob(out, manifest.config.digest).toString('utf8')) as { architecture: string; os: string; config: { Labels: Record<string, string> } };
    assert.equal(config.architecture, m.platform.architecture);
    assert.deepEqual(config.config.Labels, { target: `linux/${m.platform.architecture}`, os: 'linux', arch: m.platform.architecture, build: 'linux/amd64' });
  }
  // The metadata and the ID name the index, as buildx does for a multi-platform result.
  const md = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
  assert.equal(md['containerimage.digest'], top.manifests[0]!.digest);
  assert.equal(md['containerimage.config.digest'], undefined);
  // skopeo reads the layout: the index raw, and the arm64 image by override.
  const raw = run('skopeo', ['inspect', '--raw', `oci:${out}:1`]);
  assert.equal(sha(raw), top.manifests[0]!.digest);
  // (skopeo's Digest is the index's; the layers tell which image it picked.)
  const arm = JSON.parse(run('skopeo', ['--override-arch', 'arm64', 'inspect', `oci:${out}:1`])) as { Architecture: string; Layers: string[] };
  assert.equal(arm.Architecture, 'arm64');
  const armManifest = JSON.parse(blob(out, index.manifests[1]!.digest).toString('utf8')) as { layers: { digest: string }[] };
  assert.deepEqual(arm.Layers, armManifest.layers.map((l) => l.digest));
  // The local store keeps the index; kiln images shows its platforms; inspect picks one.
  const images = await kilnOk(['images'], u.env);
  assert.match(images.stdout, /PLATFORMS/);
  assert.match(images.stdout, new RegExp(`multi/app\\s+1\\s+${top.manifests[0]!.digest.slice(7, 19)}\\s.*linux/amd64,linux/arm64`));
  const inspected = JSON.parse((await kilnOk(['inspect', '--platform', 'linux/arm64', 'multi/app:1'], u.env)).stdout) as { architecture: string };
  assert.equal(inspected.architecture, 'arm64');
  const missing = await kiln(['inspect', '--platform', 'linux/s390x', 'multi/app:1'], u.env);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /PLATFORM_UNAVAILABLE.*linux\/s390x.*linux\/amd64, linux\/arm64/);
});

test('--push sends the index and both images; skopeo reads each platform; --oci-mediatypes=false makes a Docker manifest list', async () => {
  const u = newUser(tmp.dir);
  const meta = join(tmp.dir, 'push-meta.json');
  await kilnOk(['build', '-q', '--platform', 'linux/arm64', '--platform', 'linux/amd64', '--push', '-t', `${reg.host}/multi/app:1`, '--metadata-file', meta, ctx], u.env);
  const digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!;
  const raw = await skopeoInspect(reg, 'multi/app:1', { raw: true });
  assert.equal(sha(raw), digest);
  const index = JSON.parse(raw) as IndexDoc;
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(index.manifests.map((m) => m.platform.architecture), ['arm64', 'amd64']);
  for (const m of index.manifests) {
    const one = JSON.parse(await skopeoInspect(reg, 'multi/app:1', { arch: m.platform.architecture })) as { Architecture: string; Layers: string[]; Labels: Record<string, string> };
    assert.equal(one.Architecture, m.platform.architecture);
    assert.equal(one.Labels.arch, m.platform.architecture);
    const manifest = await skopeoInspect(reg, `multi/app@${m.digest}`, { raw: true });
    assert.equal(sha(manifest), m.digest);
    assert.deepEqual(one.Layers, (JSON.parse(manifest) as { layers: { digest: string }[] }).layers.map((l) => l.digest));
  }

  await kilnOk(['build', '-q', '--oci-mediatypes=false', '--platform', 'linux/amd64,linux/arm64', '--push', '-t', `${reg.host}/multi/docker:1`, ctx], newUser(tmp.dir).env);
  const list = JSON.parse(await skopeoInspect(reg, 'multi/docker:1', { raw: true })) as IndexDoc;
  assert.equal(list.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  assert.deepEqual(list.manifests.map((m) => m.mediaType), Array(2).fill('application/vnd.docker.distribution.manifest.v2+json'));
});

test('type=docker refuses a multi-platform build before building (one --platform is fine); local and tar get a folder per platform', async () => {
  const u = newUser(tmp.dir);
  const refused = join(tmp.dir, 'refused.tar');
  const r = await kiln(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=docker,dest=${refused}`, ctx], u.env);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /MULTI_PLATFORM_OUTPUT: -o type=docker holds one image, and this build makes 2 \(linux\/amd64, linux\/arm64\)/);
  assert.doesNotMatch(r.stderr, /#1 /, 'nothing was built');
  assert.equal(existsSync(refused), false);
  const dest = join(tmp.dir, 'one.tar');
  await kilnOk(['build', '-q', '--platform', 'linux/arm64', '-o', `type=docker,dest=${dest}`, ctx], u.env);
  const manifest = JSON.parse(run('tar', ['-xOf', dest, 'manifest.json'])) as { Config: string }[];
  const config = JSON.parse(run('tar', ['-xOf', dest, manifest[0]!.Config])) as { architecture: string };
  assert.equal(config.architecture, 'arm64');
  // BuildKit's local exporter with several platforms: linux_amd64/ and linux_arm64/.
  const dir = join(tmp.dir, 'split');
  await kilnOk(['build', '-q', '--platform', 'linux/amd64,linux/arm64', '-o', `type=local,dest=${dir}`, ctx], u.env);
  assert.deepEqual(run('find', [dir, '-type', 'f', '-printf', '%P\\n']).trim().split('\n').sort(), ['linux_amd64/hello.txt', 'linux_arm64/hello.txt']);
});

test('a FROM --platform=$BUILDPLATFORM stage runs on the build platform, its target-independent steps once, even with --no-cache', async () => {
  const dir = join(tmp.dir, 'cross');
  mkdirSync(dir);
  writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  writeFileSync(join(dir, 'Dockerfile'), [
    'FROM --platform=$BUILDPLATFORM scratch AS builder',
    'COPY hello.txt /src/hello.txt',
    'ARG TARGETARCH',
    'COPY hello.txt /out/for-$TARGETARCH.txt',
    'FROM scratch',
    'COPY --from=builder /out/ /',
    '',
  ].join('\n'));
  const out = join(tmp.dir, 'cross-layout');
  const r = await kilnOk(['build', '--progress=plain', '--no-cache', '--platform', 'linux/amd64,linux/arm64', '-o', `type=oci,dest=${out},tar=false`, dir], newUser(tmp.dir).env);
  const steps = new Map<string, string>();
  for (const m of r.stderr.matchAll(/^#(\d+) \[([^\]]+)\] .*$/gm)) steps.set(m[1]!, m[2]!);
  const outcome = (label: string): string => {
    const id = [...steps].find(([, l]) => l === label)?.[0];
    assert.ok(id !== undefined, `no step ${label} in:\n${r.stderr}`);
    return new RegExp(`^#${id} CACHED$`, 'm').test(r.stderr) ? 'cached' : 'ran';
  };
  // The builder runs on linux/amd64 for both targets, labelled as BuildKit labels it.
  assert.equal(outcome('linux/amd64 builder 1/3'), 'ran');
  assert.equal(outcome('linux/amd64->arm64 builder 1/3'), 'cached');
  assert.equal(outcome('linux/amd64 builder 3/3'), 'ran');
  assert.equal(outcome('linux/amd64->arm64 builder 3/3'), 'ran');
  const index = JSON.parse(blob(out, (JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as IndexDoc).manifests[0]!.digest).toString('utf8')) as IndexDoc;
  for (const m of index.manifests) {
    const manifest = JSON.parse(blob(out, m.digest).toString('utf8')) as { layers: { digest: string }[] };
    const listing = run('tar', ['-tzf', join(out, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7))]).trim().split('\n');
    assert.deepEqual(listing, [`for-${m.platform.architecture}.txt`]);
  }
});

test('two targets that make images of one platform (a final FROM --platform=…) fail with MULTI_PLATFORM_CONFLICT, nothing stored', async () => {
  const dir = join(tmp.dir, 'fixed');
  mkdirSync(dir);
  writeFileSync(join(dir, 'Dockerfile'), 'FROM --platform=linux/arm64 scratch\nLABEL x=1\n');
  const u = newUser(tmp.dir);
  const r = await kiln(['build', '--platform', 'linux/amd64,linux/arm64', '-t', 'fixed:1', dir], u.env);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /MULTI_PLATFORM_CONFLICT: the builds for linux\/amd64 and linux\/arm64 both made a linux\/arm64 image/);
  assert.doesNotMatch((await kilnOk(['images'], u.env)).stdout, /fixed/);
});
