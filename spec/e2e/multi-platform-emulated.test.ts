/**
 * Issue 11 end to end, with the real registry serving the offline bases as
 * a two-platform index (busybox / alpine: linux/amd64 + linux/arm64) and
 * QEMU registered through binfmt_misc by `kiln binfmt --install`:
 *
 * - the seed's cross-compiling build (testdata/seed/Dockerfile.cross) for
 *   linux/amd64,linux/arm64 pushed as an index: the builder ran on this
 *   machine for both targets, its shared steps once; the arm64 app is an
 *   aarch64 ELF that prints Hello World! under emulation;
 * - RUN on the arm64 busybox base, under emulation: the same files as the
 *   amd64 result, the binaries' architecture aside;
 * - with binfmt_misc hidden (a private mount namespace with an empty tmpfs
 *   on it), a foreign RUN fails with RUN_EMULATOR_MISSING and its fix
 *   before running anything, a RUN-less foreign build still works.
 *
 * Needs root (binfmt_misc, unshare) and qemu-user-static (make test installs it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pushMultiPlatformBaseImages } from '../helpers/base-images.ts';
import { TOP, run, tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { kiln, type KilnRun, kilnOk, newUser } from './registry-kit.ts';

const root = process.getuid?.() === 0;
const qemu = existsSync('/usr/bin/qemu-aarch64-static');
const skip = !root ? 'needs root (binfmt_misc)' : !qemu ? 'needs qemu-user-static' : false;

const tmp = tempDir('kiln-multi-emulated-');
let reg: RunningRegistry;

interface IndexDoc {
  mediaType: string;
  manifests: { digest: string; platform: { os: string; architecture: string } }[];
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

before(async () => {
  if (skip !== false) return;
  reg = await startRegistry({ mode: 'open' });
  await pushMultiPlatformBaseImages(reg);
  await kilnOk(['binfmt', '--install'], {});
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

/** The step lines of `--progress=plain`: label (`linux/amd64->arm64 builder 4/4`) → ran or cached. */
function stepOutcomes(stderr: string): Map<string, 'ran' | 'cached'> {
  const out = new Map<string, 'ran' | 'cached'>();
  for (const m of stderr.matchAll(/^#(\d+) \[([^\]]+)\] .*$/gm)) {
    out.set(m[2]!, new RegExp(`^#${m[1]} CACHED$`, 'm').test(stderr) ? 'cached' : 'ran');
  }
  return out;
}

/** Unpacks one platform's image of a layout's index into `dest` with GNU tar (layers in order; no whiteouts in these images). */
function unpackPlatform(layout: string, arch: string, dest: string): void {
  const blob = (d: string): string => join(layout, 'blobs', 'sha256', d.slice(7));
  const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as IndexDoc;
  const index = JSON.parse(readFileSync(blob(top.manifests[0]!.digest), 'utf8')) as IndexDoc;
  const entry = index.manifests.find((m) => m.platform.architecture === arch);
  assert.ok(entry, `no ${arch} image in the index`);
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as { layers: { digest: string }[] };
  mkdirSync(dest, { recursive: true });
  for (const l of manifest.layers) run('tar', ['-xzf', blob(l.digest), '-C', dest]);
}

/** e_machine of an ELF file (0x3e x86-64, 0xb7 AArch64); throws for anything else. */
function elfMachine(path: string): number {
  const head = readFileSync(path).subarray(0, 20);
  assert.deepEqual([...head.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${path} is not an ELF file`);
  return head.readUInt16LE(18);
}

/** Every regular file and symlink under `dir`, relative, with its sha256 or target. */
function listing(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of run('find', [dir, '-mindepth', '1', '-printf', '%P\\t%y\\t%l\\n']).trim().split('\n')) {
    const [rel, type, target] = line.split('\t') as [string, string, string];
    out.set(rel, type === 'f' ? sha(readFileSync(join(dir, rel))) : type === 'l' ? `-> ${target}` : type);
  }
  return out;
}

test('the seed cross-compiled for linux/amd64,linux/arm64: one index, the builder on this machine, an arm64 app that says Hello World! under emulation', { skip }, async () => {
  const u = newUser(tmp.dir);
  const meta = join(tmp.dir, 'seed.json');
  const r = await kilnOk([
    'build', '--progress=plain', '--registry-mirror', `docker.io=${reg.url}`, '--platform', 'linux/amd64,linux/arm64',
    '-f', join(TOP, 'testdata', 'seed', 'Dockerfile.cross'), '--push', '-t', `${reg.host}/go/helloworld:cross`, '--metadata-file', meta, join(TOP, 'testdata', 'seed'),
  ], u.env);
  const steps = stepOutcomes(r.stderr);
  // The builder stage ran on linux/amd64 for both targets (labelled amd64->arm64 for the second):
  // its target-independent steps once, its go build once per target; nothing of it ran emulated.
  assert.equal(steps.get('linux/amd64 builder 1/4'), 'ran', r.stderr);
  assert.equal(steps.get('linux/amd64 builder 2/4'), 'ran');
  assert.equal(steps.get('linux/amd64->arm64 builder 1/4'), 'cached');
  assert.equal(steps.get('linux/amd64->arm64 builder 2/4'), 'cached');
  assert.equal(steps.get('linux/amd64 builder 4/4'), 'ran');
  assert.equal(steps.get('linux/amd64->arm64 builder 4/4'), 'ran');
  assert.equal(steps.get('linux/arm64 prod 2/3'), 'ran');
  assert.ok(![...steps.keys()].some((l) => l.startsWith('linux/arm64 builder')), 'no builder step ran for linux/arm64 itself');

  const digest = (JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!;
  const raw = await skopeoInspect(reg, 'go/helloworld:cross', { raw: true });
  assert.equal(sha(raw), digest);
  const index = JSON.parse(raw) as IndexDoc;
  assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'linux/arm64']);
  for (const arch of ['amd64', 'arm64']) {
    const cfg = JSON.parse(await skopeoInspect(reg, 'go/helloworld:cross', { arch, config: true })) as { architecture: string; config: { Cmd: string[] } };
    assert.equal(cfg.architecture, arch);
    assert.deepEqual(cfg.config.Cmd, ['./app']);
  }

  // Each platform's app, fetched by skopeo from the registry: its machine, and what it prints.
  const layout = join(tmp.dir, 'seed-layout');
  run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/go/helloworld:cross`, `oci:${layout}:cross`]);
  for (const [arch, machine] of [['amd64', 0x3e], ['arm64', 0xb7]] as const) {
    const fs = join(tmp.dir, `seed-${arch}`);
    unpackPlatform(layout, arch, fs);
    const app = join(fs, 'root', 'app');
    assert.equal(elfMachine(app), machine);
    // Executed directly: native for amd64, through binfmt_misc + qemu-aarch64 for arm64.
    assert.equal(run(app, []), 'Hello World!\n');
  }
});

test('RUN on the arm64 busybox base runs under emulation; its files match the amd64 build but for the binaries', { skip }, async () => {
  const ctx = join(tmp.dir, 'run-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), [
    'FROM busybox',
    'ARG TARGETARCH',
    'RUN mkdir -p /out && uname -m > /out/machine && echo "$TARGETARCH" > /out/arch \\',
    ' && ls /bin | sort > /out/applets && echo hello | sha256sum > /out/sum && cp /bin/busybox /out/busybox',
    '',
  ].join('\n'));
  const out = join(tmp.dir, 'run-layout');
  const u = newUser(tmp.dir);
  const r = await kilnOk(['build', '--progress=plain', '--registry-mirror', `docker.io=${reg.url}`, '--reproducible', '--platform', 'linux/amd64,linux/arm64', '-o', `type=oci,dest=${out},tar=false`, ctx], u.env);
  assert.equal(stepOutcomes(r.stderr).get('linux/arm64 stage-0 2/2'), 'ran');
  // The pulled base keeps its name in the store once, for this machine's platform (a name points at one image).
  const base = JSON.parse((await kilnOk(['inspect', 'busybox:latest'], u.env)).stdout) as { architecture: string };
  assert.equal(base.architecture, 'amd64');
  const amd = join(tmp.dir, 'run-amd64');
  const arm = join(tmp.dir, 'run-arm64');
  unpackPlatform(out, 'amd64', amd);
  unpackPlatform(out, 'arm64', arm);
  assert.equal(readFileSync(join(amd, 'out', 'machine'), 'utf8'), 'x86_64\n');
  assert.equal(readFileSync(join(arm, 'out', 'machine'), 'utf8'), 'aarch64\n');
  assert.equal(readFileSync(join(arm, 'out', 'arch'), 'utf8'), 'arm64\n');
  assert.equal(elfMachine(join(arm, 'out', 'busybox')), 0xb7);
  assert.equal(elfMachine(join(amd, 'out', 'busybox')), 0x3e);
  // File for file the same, except where the architecture shows: the machine and arch files and the busybox binaries.
  const expectedDiffs = new Set(['bin/busybox', 'out/busybox', 'out/machine', 'out/arch']);
  const a = listing(amd);
  const b = listing(arm);
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  const differing = [...a].filter(([k, v]) => b.get(k) !== v).map(([k]) => k).sort();
  assert.deepEqual(differing, [...expectedDiffs].sort());
  assert.equal(readFileSync(join(arm, 'out', 'sum'), 'utf8'), readFileSync(join(amd, 'out', 'sum'), 'utf8'));
});

/** kiln in a private mount namespace where binfmt_misc shows nothing (an empty tmpfs on it): no emulator, as far as kiln can see. */
function kilnWithoutEmulators(args: readonly string[], env: NodeJS.ProcessEnv): Promise<KilnRun> {
  const script = 'mount -t tmpfs none /proc/sys/fs/binfmt_misc && exec "$@"';
  return kiln(args, env, undefined, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh']);
}

test('without an emulator a foreign RUN fails with RUN_EMULATOR_MISSING and the fix, before running anything; RUN-less builds work', { skip }, async () => {
  const ctx = join(tmp.dir, 'no-emu');
  mkdirSync(ctx);
  // An x86-64 binary in an arm64 stage: this machine could run it, so running it would be a silent lie.
  cpSync('/bin/dash', join(ctx, 'busybox'));
  assert.equal(elfMachine(join(ctx, 'busybox')), 0x3e);
  writeFileSync(join(ctx, 'Dockerfile'), ['FROM --platform=linux/arm64 scratch', 'COPY busybox /bin/sh', 'RUN echo ran > /ran', ''].join('\n'));
  writeFileSync(join(ctx, 'Dockerfile.copy'), ['FROM scratch', 'COPY busybox /bin/sh', 'LABEL only=metadata', ''].join('\n'));
  const u = newUser(tmp.dir);
  const failed = await kilnWithoutEmulators(['build', '--progress=plain', ctx], u.env);
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /ERROR: Dockerfile:3: RUN_EMULATOR_MISSING: RUN needs to execute linux\/arm64 binaries on this linux\/amd64 machine and binfmt_misc is not mounted on \/proc\/sys\/fs\/binfmt_misc: install qemu-user-static and run `kiln binfmt --install` as root/);
  assert.doesNotMatch(failed.stderr, /^ran$/m);
  const ok = await kilnWithoutEmulators(['build', '-q', '-f', join(ctx, 'Dockerfile.copy'), '--platform', 'linux/amd64,linux/arm64', '-t', 'noemu:1', ctx], u.env);
  assert.equal(ok.status, 0, ok.stderr);
  const images = await kilnOk(['images'], u.env);
  assert.match(images.stdout, /noemu\s+1\s.*linux\/amd64,linux\/arm64/);
  // kiln binfmt, in the same blind namespace, says what is missing and how to fix it.
  const report = await kilnWithoutEmulators(['binfmt'], u.env);
  assert.match(report.stdout + report.stderr, /linux\/arm64\s+missing/);
});
