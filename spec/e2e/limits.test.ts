/**
 * Issue 9, limits: hostile layers and ADD archives fail the build with a
 * typed error naming the limit and what passed it, and leave nothing
 * behind. The images are made without kiln: tars by Python's tarfile,
 * compressed by the gzip, zstd and bzip2 programs, digests by node:crypto,
 * pushed to the real registry over its HTTP API; builds run the real kiln
 * command with the limits lowered through their environment variables, so
 * that a "bomb" is 16 MiB of zeros (16 kB as gzip, under 1 kB as zstd) and stays fast.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { assertOneError, kiln, kilnOk, literal, newUser, sha256Of, strayFiles } from './registry-kit.ts';

const MiB = 1 << 20;
const ZEROS = 16 * MiB;
const tmp = tempDir('kiln-limits-');
const gen = join(tmp.dir, 'gen');
let reg: RunningRegistry;

/** Layer tars written by Python's tarfile (PAX, so long names are plain records). */
const MAKE_TARS = String.raw`
import io, sys, tarfile
out, zeros = sys.argv[1], int(sys.argv[2])
class Zeros(io.RawIOBase):
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), self.left); b[:n] = bytes(n); self.left -= n; return n
def tar(name, entries):
    with tarfile.open(f'{out}/{name}', 'w', format=tarfile.PAX_FORMAT) as t:
        for path, size in entries:
            info = tarfile.TarInfo(path); info.size = size; info.mode = 0o644; info.mtime = 0
            t.addfile(info, Zeros(size) if size else None)
tar('zeros.tar', [('zeros', zeros)])
tar('small.tar', [('small', 5)])
tar('deep.tar', [('d/' * 1024 + 'f', 0)])                 # 1025 levels
tar('longname.tar', [('n' * 256, 0)])                     # one 256-byte name
tar('longpath.tar', [(('p' * 200 + '/') * 21 + 'f', 0)])  # 4222 bytes, 22 levels
`;

function sh(cmd: string, args: readonly string[], stdout?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'buffer', maxBuffer: 256 * MiB });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
  if (stdout !== undefined) writeFileSync(stdout, r.stdout);
}

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** Uploads a blob with the distribution API (POST, then a monolithic PUT ?digest=). */
async function putBlob(repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256Of(bytes);
  const started = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location')!, reg.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

/** Pushes an image of the given layers (compressed blobs with their plain tars) as REPO:latest. */
async function pushImage(repo: string, layers: readonly { blob: string; tar: string; mediaType: string }[]): Promise<{ layerDigests: string[] }> {
  const descs = [];
  for (const l of layers) {
    const bytes = readFileSync(l.blob);
    descs.push({ mediaType: l.mediaType, digest: await putBlob(repo, bytes), size: bytes.length });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: ARCH[process.arch] ?? process.arch, os: 'linux', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Of(readFileSync(l.tar))) },
  }));
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await putBlob(repo, config), size: config.length };
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: descs });
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/latest`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 201, await res.text());
  return { layerDigests: descs.map((d) => d.digest) };
}

const g = (name: string): string => join(gen, name);
const layerOf = (tar: string, kind: 'gzip' | 'zstd' | 'none' = 'gzip'): { blob: string; tar: string; mediaType: string } => ({
  blob: g(kind === 'gzip' ? `${tar}.gz` : kind === 'zstd' ? `${tar}.zst` : tar),
  tar: g(tar),
  mediaType: kind === 'none' ? OCI_LAYER : `${OCI_LAYER}+${kind}`,
});
let bombSecond: string;

before(async () => {
  mkdirSync(gen, { recursive: true });
  sh('python3', ['-c', MAKE_TARS, gen, String(ZEROS)]);
  for (const t of ['zeros.tar', 'small.tar', 'deep.tar', 'longname.tar', 'longpath.tar']) sh('gzip', ['-9', '-n', '-k', g(t)]);
  sh('zstd', ['-q', '-19', '-k', g('zeros.tar')]);
  sh('bzip2', ['-c', g('zeros.tar')], g('zeros.tar.bz2'));
  reg = await startRegistry({ mode: 'open' });
  await pushImage('bomb-gzip', [layerOf('zeros.tar')]);
  await pushImage('bomb-zstd', [layerOf('zeros.tar', 'zstd')]);
  bombSecond = (await pushImage('bomb-second', [layerOf('small.tar'), layerOf('zeros.tar')])).layerDigests[1]!;
  await pushImage('deep', [layerOf('deep.tar')]);
  await pushImage('longname', [layerOf('longname.tar')]);
  await pushImage('longpath', [layerOf('longpath.tar', 'none')]);
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

let contexts = 0;
/** A build context holding `files` (copied from gen/) and a Dockerfile. */
function context(dockerfile: string, files: readonly string[] = []): string {
  const dir = join(tmp.dir, `ctx-${contexts++}`);
  mkdirSync(dir);
  for (const f of files) copyFileSync(g(f), join(dir, f));
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

/** Builds `ctx` into a tar of its root filesystem (so every layer is applied) as a new user, with `env` added. */
async function buildIn(ctx: string, env: NodeJS.ProcessEnv = {}): Promise<{ run: Awaited<ReturnType<typeof kiln>>; home: string; out: string }> {
  const user = newUser(tmp.dir);
  const out = join(tmp.dir, `rootfs-${contexts++}.tar`);
  const run = await kiln(['build', '--progress=plain', '-o', `type=tar,dest=${out}`, ctx], { ...user.env, ...env });
  return { run, home: user.home, out };
}

/** The failed build left nothing behind: no output, no temp or spill files in the store, and (with `fsck`) `kiln fsck` finds it clean. */
async function assertClean(home: string, out: string, fsck = false): Promise<void> {
  assert.equal(existsSync(out), false, 'no output was written');
  assert.deepEqual(strayFiles(home), []);
  assert.deepEqual(readdirSync(home).filter((n) => n.startsWith('kiln-spill-') || n.startsWith('kiln-rootfs-')), []);
  if (fsck) await kilnOk(['fsck'], { KILN_HOME: home });
}

describe('layer limits (FROM an image in the registry)', { concurrency: 2 }, () => {
  // A layer pulled for a build is decompressed as it downloads (lib/transport's
  // stage-blobs), where nothing names it yet: these errors say "a layer".
  test('a gzip layer past KILN_MAX_LAYER_SIZE is LAYER_TOO_LARGE, and the store is left clean', async () => {
    const { run, home, out } = await buildIn(context(`FROM ${reg.host}/bomb-gzip\n`), { KILN_MAX_LAYER_SIZE: '8MiB' });
    assertOneError(run, 'LAYER_TOO_LARGE', /more than 8 MiB of file contents|larger than 8 MiB uncompressed/, /KILN_MAX_LAYER_SIZE=8 MiB sets the limit/);
    await assertClean(home, out, true);
  });

  test('a second layer (fetched while the first is applied) past the limit fails the same way', async () => {
    const { run, home, out } = await buildIn(context(`FROM ${reg.host}/bomb-second\n`), { KILN_MAX_LAYER_SIZE: '8MiB' });
    assertOneError(run, 'LAYER_TOO_LARGE', /8 MiB/, /KILN_MAX_LAYER_SIZE/);
    await assertClean(home, out);
  });

  test('kiln pull checks a layer\'s diffID by decompressing it: a bomb fails there too, and fsck finds the store clean', async () => {
    const user = newUser(tmp.dir);
    const r = await kiln(['pull', '-q', `${reg.host}/bomb-zstd`], { ...user.env, KILN_LAYER_RATIO_GRACE: '2MiB' });
    assertOneError(r, 'LAYER_RATIO_EXCEEDED', /expands more than 1100:1/);
    await assertClean(user.home, join(tmp.dir, 'no-output'), true);
  });

  test('past the grace, zstd at ~30000:1 is LAYER_RATIO_EXCEEDED at the default 1100:1; gzip of the same tar (~1000:1) is not', async () => {
    const env = { KILN_LAYER_RATIO_GRACE: '2MiB' };
    const zstd = await buildIn(context(`FROM ${reg.host}/bomb-zstd\n`), env);
    assertOneError(zstd.run, 'LAYER_RATIO_EXCEEDED', /expands more than 1100:1/, /KILN_MAX_LAYER_RATIO=1100/, /KILN_LAYER_RATIO_GRACE=2 MiB/);
    await assertClean(zstd.home, zstd.out, true);
    const gzip = await buildIn(context(`FROM ${reg.host}/bomb-gzip\n`), env);
    assert.equal(gzip.run.status, 0, gzip.run.stderr);
    // Python's tarfile reads kiln's output: the 16 MiB file is whole.
    const size = spawnSync('python3', ['-c', 'import sys, tarfile; print(tarfile.open(sys.argv[1]).getmember("zeros").size)', gzip.out], { encoding: 'utf8' });
    assert.equal(size.stdout.trim(), String(ZEROS));
  });

  test('KILN_MAX_LAYER_RATIO=0 turns the ratio check off; a bad value is LIMIT_INVALID', async () => {
    const off = await buildIn(context(`FROM ${reg.host}/bomb-zstd\n`), { KILN_LAYER_RATIO_GRACE: '2MiB', KILN_MAX_LAYER_RATIO: '0' });
    assert.equal(off.run.status, 0, off.run.stderr);
    const bad = await buildIn(context(`FROM ${reg.host}/bomb-zstd\n`), { KILN_MAX_LAYER_SIZE: 'lots' });
    assertOneError(bad.run, 'LIMIT_INVALID', /KILN_MAX_LAYER_SIZE="lots" is not valid/);
  });

  const paths: [string, string, RegExp[]][] = [
    ['deep', 'PATH_TOO_DEEP', [/is 1025 levels deep \(limit 1024, set by KILN_MAX_PATH_DEPTH\)/, /entry "(d\/){30}…(\/d){19}\/f"/]],
    ['longname', 'NAME_TOO_LONG', [/has a 256-byte name \(limit 255, Linux's NAME_MAX\)/, /entry "n{60}…n{40}"/]],
    ['longpath', 'PATH_TOO_LONG', [/makes a 4223-byte absolute path \(limit 4096, Linux's PATH_MAX\)/, /entry "p{60}…p{38}\/f"/]],
  ];
  for (const [repo, code, patterns] of paths) {
    test(`${repo}: ${code} names the entry, cut short`, async () => {
      const { run, home, out } = await buildIn(context(`FROM ${reg.host}/${repo}\n`));
      assertOneError(run, code, ...patterns);
      await assertClean(home, out);
    });
  }

  test('KILN_MAX_PATH_DEPTH raises the depth limit', async () => {
    const { run } = await buildIn(context(`FROM ${reg.host}/deep\n`), { KILN_MAX_PATH_DEPTH: '2000' });
    assert.equal(run.status, 0, run.stderr);
  });

  test('a layer read from the local store is named in the error (pulled under the defaults, built under lower limits)', async () => {
    const user = newUser(tmp.dir);
    await kilnOk(['pull', '-q', `${reg.host}/bomb-gzip`], user.env);
    await kilnOk(['pull', '-q', `${reg.host}/deep`], user.env);
    // Named by the blob digest (of the gzip file gzip wrote here), as the pull named it.
    const blob = (tar: string): string => sha256Of(readFileSync(g(`${tar}.gz`)));
    const big = await kiln(['build', '-o', `type=tar,dest=${join(tmp.dir, 'never-1.tar')}`, context(`FROM ${reg.host}/bomb-gzip\n`)], { ...user.env, KILN_MAX_LAYER_SIZE: '8MiB' });
    assertOneError(big, 'LAYER_TOO_LARGE', literal(`layer ${blob('zeros.tar')} holds more than 8 MiB of file contents`));
    const deep = await kiln(['build', '-o', `type=tar,dest=${join(tmp.dir, 'never-2.tar')}`, context(`FROM ${reg.host}/deep\n`)], { ...user.env, KILN_MAX_PATH_DEPTH: '100' });
    assertOneError(deep, 'PATH_TOO_DEEP', literal(`layer ${blob('deep.tar')}: entry "d/d/`), /is 1025 levels deep \(limit 100, set by KILN_MAX_PATH_DEPTH\)/);
    assert.deepEqual(strayFiles(user.home), []);
    await kilnOk(['fsck'], user.env);
  });
});

describe('ADD archive limits', { concurrency: 2 }, () => {
  test('an archive past KILN_MAX_LAYER_SIZE is ARCHIVE_TOO_LARGE, naming the archive and the Dockerfile line', async () => {
    const ctx = context('FROM scratch\nADD zeros.tar.gz /x/\n', ['zeros.tar.gz']);
    const { run, home, out } = await buildIn(ctx, { KILN_MAX_LAYER_SIZE: '8MiB' });
    assertOneError(run, /^ERROR: Dockerfile:2: ARCHIVE_TOO_LARGE: /, literal(`ADD: archive ${join(ctx, 'zeros.tar.gz')} holds more than 8 MiB of file contents`));
    await assertClean(home, out, true);
  });

  test('a bzip2 archive (through the bzip2 program) past the ratio is ARCHIVE_RATIO_EXCEEDED', async () => {
    const ctx = context('FROM scratch\nADD zeros.tar.bz2 /x/\n', ['zeros.tar.bz2']);
    const { run, home, out } = await buildIn(ctx, { KILN_LAYER_RATIO_GRACE: '2MiB' });
    assertOneError(run, /^ERROR: Dockerfile:2: ARCHIVE_RATIO_EXCEEDED: /, /expands more than 1100:1/, literal(join(ctx, 'zeros.tar.bz2')));
    await assertClean(home, out);
  });

  const paths: [string, string, RegExp][] = [
    ['deep.tar.gz', 'PATH_TOO_DEEP', /is 1025 levels deep/],
    ['longname.tar.gz', 'NAME_TOO_LONG', /has a 256-byte name/],
    ['longpath.tar', 'PATH_TOO_LONG', /makes a 4223-byte absolute path/],
  ];
  for (const [file, code, pattern] of paths) {
    test(`${file}: ${code} names the archive`, async () => {
      const ctx = context(`FROM scratch\nADD ${file} /x/\n`, [file]);
      const { run, home, out } = await buildIn(ctx);
      assertOneError(run, new RegExp(`^ERROR: Dockerfile:2: ${code}: `), pattern, literal(`ADD: archive ${join(ctx, file)}: entry `));
      await assertClean(home, out);
    });
  }
});
