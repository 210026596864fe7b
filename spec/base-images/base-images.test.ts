/**
 * The offline base images made by testdata/base-images/make-base-images.ts:
 * valid OCI layouts (re-hashed, schema-checked), the configs Dockerfiles
 * written for Docker Hub expect, and — checked with independent tools —
 * root filesystems that work: umoci unpacks them, and in a chroot busybox's
 * shell runs and Go 1.19 builds a static hello world from a GOPATH layout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ValidatedImage, assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type BaseImages, ensureBaseImages } from '../helpers/base-images.ts';
import { TOP, run } from '../helpers/kiln.ts';

const isRoot = process.getuid?.() === 0;
const ROOT_ONLY = isRoot ? false : 'umoci unpack and chroot need root';

const BUSYBOX_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const GO_ENV = [
  'PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'GOROOT=/usr/local/go',
  'GOPATH=/go',
  'HOME=/root',
  'GOCACHE=/tmp/.gocache',
  'CGO_ENABLED=0',
  'GOFLAGS=-buildvcs=false',
  'GO111MODULE=off',
];
const HELLO_GO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello World!")\n}\n';

let images: BaseImages;
let work: string;
const validated = new Map<string, ValidatedImage>();

/** Runs `args` in a chroot of `rootfs` with exactly `env` (nothing leaks in from the test's environment). */
function inChroot(rootfs: string, env: readonly string[], args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('chroot', [rootfs, ...args], { env: Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])), encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `umoci unpack` of the image into `<work>/<name>`; returns the rootfs folder. */
function unpack(layoutRef: string, name: string): string {
  const bundle = join(work, name);
  run('umoci', ['unpack', '--image', layoutRef.replace(/^oci:/, ''), bundle]);
  return join(bundle, 'rootfs');
}

before(async () => {
  images = await ensureBaseImages();
  work = mkdtempSync(join(tmpdir(), 'kiln-base-images-'));
  for (const image of [images.busybox, images.golang]) {
    const found = await assertValidLayout(image.layout);
    assert.equal(found.length, 1, `${image.layout} holds one image`);
    validated.set(image.name, found[0]!);
  }
});

after(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the layouts', () => {
  test('each holds one amd64/linux image: the root filesystem as one gzip layer (plus WORKDIR\'s empty one), sized as the stamp says', () => {
    // BuildKit commits WORKDIR as a layer even when the folder exists: an empty tar, 1024 zero bytes.
    const emptyTar = `sha256:${createHash('sha256').update(Buffer.alloc(1024)).digest('hex')}`;
    for (const [image, layers] of [[images.busybox, 1], [images.golang, 2]] as const) {
      const v = validated.get(image.name)!;
      assert.equal(v.manifestDigest, image.manifestDigest);
      assert.equal(v.manifest.config.digest, image.configDigest);
      assert.equal(`oci:${image.layout}:${v.refName}`, image.ociRef);
      assert.equal(v.config.architecture, 'amd64');
      assert.equal(v.config.os, 'linux');
      assert.equal(v.manifest.layers.length, layers);
      for (const layer of v.manifest.layers) assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      for (const diffId of v.diffIds.slice(1)) assert.equal(diffId, emptyTar);
      const manifestBytes = readFileSync(join(image.layout, 'blobs', 'sha256', v.manifestDigest.slice('sha256:'.length))).length;
      assert.equal(image.compressedSize, manifestBytes + v.manifest.config.size + v.manifest.layers.reduce((n, l) => n + l.size, 0));
      const gunzipped = v.manifest.layers.map((l) => Number(run('sh', ['-c', 'gzip -dc "$1" | wc -c', 'sh', join(image.layout, 'blobs', 'sha256', l.digest.slice(7))])));
      assert.equal(image.uncompressedSize, gunzipped.reduce((a, b) => a + b, 0));
    }
  });

  test('busybox: PATH and CMD as Docker Hub busybox, created at the packages\' epoch', () => {
    const c = validated.get('busybox')!.config as ValidatedImage['config'] & { created?: string };
    assert.deepEqual(c.config?.Env, [BUSYBOX_PATH]);
    assert.deepEqual(c.config?.Cmd, ['sh']);
    assert.ok([undefined, '', '/'].includes(c.config?.WorkingDir as string | undefined), `WorkingDir ${String(c.config?.WorkingDir)}`);
    assert.equal(c.created, new Date(images.busybox.epoch * 1000).toISOString().replace('.000Z', 'Z'));
  });

  test('golang: the Go environment, WORKDIR /go, CMD sh, and GOLANG_VERSION from the package', () => {
    const c = validated.get('golang')!.config.config!;
    const env = c.Env as string[];
    for (const kv of GO_ENV) assert.ok(env.includes(kv), `${kv} in ${env.join(' ')}`);
    const debVersion = /^golang-1\.19-go_([^-]+)-/.exec(readdirName(join(TOP, 'testdata', 'fixtures', 'debs'), 'golang-1.19-go_'))?.[1];
    assert.ok(env.includes(`GOLANG_VERSION=${debVersion}`), `GOLANG_VERSION=${debVersion} in ${env.join(' ')}`);
    assert.equal(c.WorkingDir, '/go');
    assert.deepEqual(c.Cmd, ['sh']);
  });
});

function readdirName(dir: string, prefix: string): string {
  const names = readdirSync(dir).filter((n) => n.startsWith(prefix));
  assert.equal(names.length, 1, `one ${prefix}* in ${dir}`);
  return names[0]!;
}

describe('busybox, unpacked by umoci', { skip: ROOT_ONLY }, () => {
  let rootfs: string;
  before(() => {
    rootfs = unpack(images.busybox.ociRef, 'busybox');
  });

  test('every applet of busybox --list-full is a symlink to /bin/busybox at its full path', () => {
    const applets = run(join(rootfs, 'bin/busybox'), ['--list-full']).split('\n').filter((l) => l !== '' && l !== 'linuxrc' && l !== 'bin/busybox');
    assert.ok(applets.length > 250, `${applets.length} applets`);
    for (const applet of applets) assert.equal(readlinkSync(join(rootfs, applet)), '/bin/busybox', applet);
    assert.ok(lstatSync(join(rootfs, 'bin/busybox')).isFile());
  });

  test('owners are 0:0; /tmp is 1777, /root 0700; the account files are the committed ones', () => {
    assert.equal(run('find', [rootfs, '!', '-uid', '0', '-o', '!', '-gid', '0']), '');
    assert.equal(lstatSync(join(rootfs, 'tmp')).mode & 0o7777, 0o1777);
    assert.equal(lstatSync(join(rootfs, 'root')).mode & 0o7777, 0o700);
    for (const f of ['passwd', 'group', 'shadow']) {
      assert.deepEqual(readFileSync(join(rootfs, 'etc', f)), readFileSync(join(TOP, 'testdata/base-images/etc', f)), f);
    }
  });

  test('in a chroot, sh runs and /bin holds busybox and its bin/ applets', () => {
    const binApplets = run(join(rootfs, 'bin/busybox'), ['--list-full']).split('\n').filter((l) => l.startsWith('bin/') && l !== 'bin/busybox');
    const r = inChroot(rootfs, [BUSYBOX_PATH], ['/bin/sh', '-c', 'echo hi; ls /bin | wc -l']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.replace(/ +/g, ''), `hi\n${binApplets.length + 1}\n`);
  });

  test('in a chroot, users resolve through /etc/passwd and /etc/group', () => {
    assert.equal(inChroot(rootfs, [BUSYBOX_PATH], ['id', '-un']).stdout, 'root\n');
    const r = inChroot(rootfs, [BUSYBOX_PATH], ['su', '-s', '/bin/sh', 'nobody', '-c', 'id -un; id -gn']);
    assert.equal(r.stdout, 'nobody\nnogroup\n', r.stderr);
  });
});

describe('golang, unpacked by umoci', { skip: ROOT_ONLY }, () => {
  let rootfs: string;
  let env: string[];
  before(() => {
    rootfs = unpack(images.golang.ociRef, 'golang');
    env = validated.get('golang')!.config.config!.Env as string[];
    // What a sandbox's minimal /dev gives: go opens /dev/null for its subprocesses.
    for (const [name, minor] of [['null', 3], ['zero', 5], ['urandom', 9]] as const) run('mknod', ['-m', '666', join(rootfs, 'dev', name), 'c', '1', String(minor)]);
  });

  test('GOROOT is one tree at /usr/local/go with the std packages but not the toolchain\'s, Go\'s tests or testdata', () => {
    const goroot = join(rootfs, 'usr/local/go');
    for (const p of ['bin/go', 'bin/gofmt', 'pkg/tool/linux_amd64/compile', 'pkg/tool/linux_amd64/link', 'pkg/linux_amd64/fmt.a', 'pkg/linux_amd64/runtime.a', 'pkg/include/textflag.h', 'src/fmt/print.go', 'src/runtime/internal/sys/zversion.go', 'VERSION']) {
      assert.ok(existsSync(join(goroot, p)), p);
    }
    for (const p of ['pkg/linux_amd64/cmd', 'test']) assert.equal(existsSync(join(goroot, p)), false, p);
    assert.equal(run('find', [join(goroot, 'src'), '-name', 'testdata']), '');
    assert.equal(lstatSync(join(rootfs, 'go/src')).mode & 0o7777, 0o777);
    assert.equal(readlinkSync(join(rootfs, 'lib64/ld-linux-x86-64.so.2')), '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
  });

  test('in a chroot, go version runs (the dynamically linked go finds glibc)', () => {
    const version = readFileSync(join(rootfs, 'usr/local/go/VERSION'), 'utf8').trim();
    const r = inChroot(rootfs, env, ['go', 'version']);
    assert.equal(r.stdout, `go version ${version} linux/amd64\n`, r.stderr);
  });

  test('in a chroot, a cold CGO_ENABLED=0 build of hello world in a GOPATH layout works offline and runs', (t) => {
    const src = join(rootfs, 'go/src/hello');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'app.go'), HELLO_GO);
    assert.equal(existsSync(join(rootfs, 'tmp/.gocache')), false, 'the build cache starts empty');
    const started = process.hrtime.bigint();
    const r = inChroot(rootfs, env, ['/bin/sh', '-c', 'cd /go/src/hello && go build -o /go/bin/hello . && hello']);
    t.diagnostic(`cold go build + run: ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Hello World!\n');
  });

  test('the binary is static: it runs in the busybox image, which has no libc', () => {
    const binary = join(rootfs, 'go/bin/hello');
    assert.ok(existsSync(binary), 'built by the previous test');
    const bb = unpack(images.busybox.ociRef, 'busybox-static-check');
    assert.equal(existsSync(join(bb, 'lib')), false);
    copyFileSync(binary, join(bb, 'hello'));
    const r = inChroot(bb, [BUSYBOX_PATH], ['/hello']);
    assert.equal(r.stdout, 'Hello World!\n', r.stderr);
  });
});
