/**
 * kiln pull / push / copy through the real CLI against a real registry
 * (Debian's docker-registry, open mode), with skopeo as the independent
 * peer: digests are checked against what skopeo reports and against
 * hashes computed here with node:crypto, outputs validated by re-hashing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type PushedImage, type PushedIndex, pushIndex, pushRandomImage, writeRandomImage } from '../helpers/registry-images.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.ts';
import { assertOneError, blobFiles, kilnOk, kiln, literal, newUser, sha256File, sha256Of, storeEntries } from './registry-kit.ts';

const HOST_ARCH = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
const OTHER_ARCH = HOST_ARCH === 'arm64' ? 'amd64' : 'arm64';

interface RawManifest {
  mediaType: string;
  config: { digest: string; size: number; mediaType: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

let work: string;
let reg: RunningRegistry;
let img: PushedImage;
let multi: PushedIndex;
/** The index as the registry serves it, read by skopeo: platform → manifest digest, computed here. */
let multiRaw: Buffer;
let byArch: Map<string, string>;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-e2e-copy-'));
  reg = await startRegistry({ mode: 'open' });
  img = await pushRandomImage(reg, 'peer/img:v1', { seed: 31, layers: 3 });
  multi = await pushIndex(reg, 'peer/multi:v1', { seed: 32 });
  multiRaw = Buffer.from(await skopeoInspect(reg, 'peer/multi:v1', { raw: true }));
  const index = JSON.parse(multiRaw.toString('utf8')) as { manifests: { digest: string; platform: { architecture: string } }[] };
  byArch = new Map(index.manifests.map((d) => [d.platform.architecture, d.digest]));
});
after(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The manifest skopeo reads from the registry, and its digest computed here. */
async function served(name: string): Promise<{ digest: string; manifest: RawManifest }> {
  const raw = await skopeoInspect(reg, name, { raw: true });
  return { digest: sha256Of(raw), manifest: JSON.parse(raw) as RawManifest };
}

describe('pull, push and copy against a registry', { concurrency: true }, () => {
  test('kiln pulls what skopeo pushed: the same manifest digest, identical blobs', async () => {
    const u = newUser(work);
    const r = await kilnOk(['pull', `${reg.host}/peer/img:v1`], u.env);
    assert.match(r.stdout, new RegExp(`^Digest: ${img.pushedDigest}$`, 'm'));
    assert.match(r.stdout, literal(`Status: Downloaded newer image for ${reg.host}/peer/img:v1`));
    assert.equal(r.stderr.match(/^[a-f0-9]{12}: Pull complete \S+ in [\d.]+s \(\S+\/s\)$/gm)?.length, 3, 'a plain progress line per layer');
    const again = await kilnOk(['pull', '--progress=tty', `${reg.host}/peer/img:v1`], u.env);
    assert.match(again.stdout, literal(`Status: Image is up to date for ${reg.host}/peer/img:v1`));
    assert.match(again.stderr, /\x1b\[2K[a-f0-9]{12}: Already exists/, 'tty progress redraws lines with ANSI escapes');
    const entry = storeEntries(u.home).find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === `${reg.host}/peer/img:v1`);
    assert.equal(entry?.digest, img.pushedDigest);
    // skopeo's own copy of the same image, blob for blob.
    const peer = join(work, 'peer-img');
    await skopeoCopy(dockerRef(reg, 'peer/img:v1'), `oci:${peer}:v1`, { registry: reg, extraArgs: ['--preserve-digests'] });
    const ours = blobFiles(u.home);
    const { manifest } = await served('peer/img:v1');
    assert.equal(manifest.layers.length, 3);
    for (const d of [manifest.config, ...manifest.layers]) {
      const mine = ours.get(d.digest);
      assert.ok(mine !== undefined, `kiln stored ${d.digest}`);
      assert.equal(sha256File(mine), d.digest);
      assert.ok(readFileSync(mine).equals(readFileSync(join(peer, 'blobs', 'sha256', d.digest.slice(7)))), `blob ${d.digest} equals skopeo's`);
    }
    assert.equal(sha256File(ours.get(img.pushedDigest)!), img.pushedDigest, 'the manifest bytes are kept');
  });

  test('a Docker schema2 image goes through the local store unchanged', async () => {
    const u = newUser(work);
    const pushed = await pushRandomImage(reg, 'peer/docker:v1', { seed: 34, layers: 2, format: 'docker' });
    await kilnOk(['pull', '-q', `${reg.host}/peer/docker:v1`], u.env);
    const r = await kilnOk(['push', `${reg.host}/peer/docker:v1`, `${reg.host}/copy/docker:v1`], u.env);
    assert.match(r.stdout, new RegExp(`^v1: digest: ${pushed.pushedDigest} `, 'm'));
    const { digest, manifest } = await served('copy/docker:v1');
    assert.equal(digest, pushed.pushedDigest);
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  });

  test('an image kiln pushed is copied out by skopeo and validates', async () => {
    const u = newUser(work);
    const layout = await writeRandomImage(join(work, 'own-layout'), { seed: 33, layers: 2, tag: 'own' });
    await kilnOk(['copy', `oci:${layout.dir}:own`, 'mine/app:1'], u.env);
    const r = await kilnOk(['push', 'mine/app:1', `${reg.host}/kiln/app:1`], u.env);
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], sha256File(join(layout.dir, 'blobs', 'sha256', layout.manifestDigest.slice(7))), 'the pushed digest is the layout manifest hashed here');
    assert.match(r.stderr, /: Pushed /);
    const out = join(work, 'kiln-pushed');
    await skopeoCopy(dockerRef(reg, 'kiln/app:1'), `oci:${out}:1`, { registry: reg, extraArgs: ['--preserve-digests'] });
    const [validated] = await assertValidLayout(out);
    assert.equal(validated?.manifestDigest, m[1]);
    assert.equal((await served('kiln/app:1')).digest, m[1]);
  });

  test('copy keeps the manifest digest through oci:, oci-archive: and back to the registry', async () => {
    const u = newUser(work);
    const layout = join(work, 'copy-layout');
    const r1 = await kilnOk(['copy', `docker://${reg.host}/peer/img:v1`, `oci:${layout}:v1`], u.env);
    assert.equal(r1.stdout.trim(), img.pushedDigest);
    const [fromLayout] = await assertValidLayout(layout);
    assert.equal(fromLayout?.manifestDigest, img.pushedDigest);
    assert.equal(fromLayout?.refName, 'v1');
    const archive = join(work, 'copy.oci.tar');
    assert.equal((await kilnOk(['copy', `oci:${layout}:v1`, `oci-archive:${archive}:v1`], u.env)).stdout.trim(), img.pushedDigest);
    const unpacked = join(work, 'copy-oci-archive');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xf', archive, '-C', unpacked]);
    assert.equal((await assertValidLayout(unpacked))[0]?.manifestDigest, img.pushedDigest);
    await kilnOk(['copy', `oci-archive:${archive}:v1`, `docker://${reg.host}/copy/img:v1`], u.env);
    assert.equal((await served('copy/img:v1')).digest, img.pushedDigest);
    assert.deepEqual(storeEntries(u.home), [], 'copy between other locations leaves the local store alone');
  });

  test('docker-archive keeps the config (image ID) and diffIDs, not the manifest; its round trip is byte-identical', async () => {
    const u = newUser(work);
    const { manifest: original } = await served('peer/img:v1');
    const file = join(work, 'img.docker.tar');
    const r = await kilnOk(['copy', `docker://${reg.host}/peer/img:v1`, `docker-archive:${file}`], u.env);
    assert.equal(r.stdout.trim(), original.config.digest, 'a docker-archive is named by its config');
    const dir = join(work, 'img-docker-archive');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    const [entry] = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(sha256File(join(dir, entry!.Config)), original.config.digest);
    assert.deepEqual(entry!.RepoTags, [`${reg.host}/peer/img:v1`]);
    const config = JSON.parse(readFileSync(join(dir, entry!.Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(entry!.Layers.map((l) => sha256File(join(dir, l))), config.rootfs.diff_ids, 'layer tars hash to the diffIDs');
    // skopeo reads the archive back into a valid image with the same layers (it rewrites the config as OCI's).
    const peer = join(work, 'img-from-docker-archive');
    await skopeoCopy(`docker-archive:${file}`, `oci:${peer}:x`);
    assert.deepEqual((await assertValidLayout(peer))[0]?.diffIds, config.rootfs.diff_ids);
    // Back to a registry: the manifest is new (the archive has none), the config and diffIDs are not.
    const pushed = (await kilnOk(['copy', `docker-archive:${file}`, `docker://${reg.host}/copy/from-archive:v1`], u.env)).stdout.trim();
    const { digest, manifest } = await served('copy/from-archive:v1');
    assert.equal(digest, pushed);
    assert.notEqual(digest, img.pushedDigest, 'a docker-archive cannot carry the original manifest (gzip layers came out uncompressed)');
    assert.equal(manifest.config.digest, original.config.digest);
    assert.deepEqual(manifest.layers.map((l) => [l.mediaType, l.digest]), config.rootfs.diff_ids.map((d) => ['application/vnd.oci.image.layer.v1.tar', d]));
    const again = (await kilnOk(['copy', `docker-archive:${file}`, `docker://${reg.host}/copy/from-archive:v2`], u.env)).stdout.trim();
    assert.equal(again, pushed, 'the same archive always gives the same manifest');
    const file2 = join(work, 'img-again.docker.tar');
    await kilnOk(['copy', `docker://${reg.host}/copy/from-archive:v1`, `docker-archive:${file2}:${reg.host}/peer/img:v1`], u.env);
    assert.equal(sha256File(file2), sha256File(file), 'docker-archive → registry → docker-archive gives the same bytes');
  });

  test('a two-platform index resolves to the host platform, to another with --platform, and copies whole', async () => {
    const u = newUser(work);
    const indexDigest = sha256Of(multiRaw);
    assert.equal(indexDigest, multi.pushedDigest);
    const tagged = (): string | undefined => storeEntries(u.home).find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === `${reg.host}/peer/multi:v1`)?.digest;
    const host = await kilnOk(['pull', `${reg.host}/peer/multi:v1`], u.env);
    assert.match(host.stdout, new RegExp(`^Digest: ${indexDigest}$`, 'm'), 'docker pull prints the digest the tag names');
    assert.equal(tagged(), byArch.get(HOST_ARCH));
    await kilnOk(['pull', '--platform', `linux/${OTHER_ARCH}`, `${reg.host}/peer/multi:v1`], u.env);
    assert.equal(tagged(), byArch.get(OTHER_ARCH));
    const all = await kilnOk(['copy', '--all-platforms', `docker://${reg.host}/peer/multi:v1`, `docker://${reg.host}/copy/multi:v1`], u.env);
    assert.equal(all.stdout.trim(), indexDigest);
    assert.equal(sha256Of(await skopeoInspect(reg, 'copy/multi:v1', { raw: true })), indexDigest);
    for (const [arch, digest] of byArch) assert.equal(sha256Of(await skopeoInspect(reg, `copy/multi@${digest}`, { raw: true })), digest, `${arch} image copied`);
    const layout = join(work, 'multi-layout');
    assert.equal((await kilnOk(['copy', '--all-platforms', `docker://${reg.host}/peer/multi:v1`, `oci:${layout}:v1`], u.env)).stdout.trim(), indexDigest);
    assert.deepEqual((await assertValidLayout(layout)).map((i) => i.manifestDigest).sort(), [...byArch.values()].sort());
    const one = await kilnOk(['copy', '--platform', `linux/${OTHER_ARCH}`, `oci:${layout}:v1`, `docker://${reg.host}/copy/one:v1`], u.env);
    assert.equal(one.stdout.trim(), byArch.get(OTHER_ARCH));
    // The local store keeps a whole index too, and pushes it whole.
    await kilnOk(['copy', '--all-platforms', `oci:${layout}:v1`, 'local/multi:1'], u.env);
    const pushed = await kilnOk(['push', '--progress=quiet', 'local/multi:1', `${reg.host}/copy/multi-again:1`], u.env);
    assert.match(pushed.stdout, new RegExp(`^1: digest: ${indexDigest} size: ${multiRaw.length}$`, 'm'));
    assert.equal(pushed.stderr, '', '--progress=quiet prints nothing on stderr');
  });

  test('multi-platform refusals: docker-archive with --all-platforms, a platform the index lacks', async () => {
    const u = newUser(work);
    const file = join(work, 'multi.docker.tar');
    const r = await kiln(['copy', '--all-platforms', `docker://${reg.host}/peer/multi:v1`, `docker-archive:${file}`], u.env);
    assertOneError(r, 'MULTI_PLATFORM_UNSUPPORTED', literal(file));
    assert.equal(existsSync(file), false);
    const s = await kiln(['pull', '--platform', 'linux/s390x', `${reg.host}/peer/multi:v1`], u.env);
    assertOneError(s, 'PLATFORM_UNAVAILABLE', literal(`${reg.host}/peer/multi:v1`), /linux\/s390x/, /linux\/amd64, linux\/arm64/);
    assert.deepEqual(storeEntries(u.home), []);
  });
});
