/**
 * The arm64 busybox and the two-platform busybox index that
 * testdata/base-images/make-base-images.ts writes beside the amd64 images,
 * checked with tools independent of kiln: Python's gzip + tarfile read the
 * layers (the ELF header of /bin/busybox, the applet symlinks), node:crypto
 * re-hashes the index, Python's json writes its canonical form, skopeo
 * picks each platform out of the layout and out of a real registry, and
 * dpkg-deb reads the .debs' control fields. Where qemu-user-static is
 * installed, the arm64 binary itself lists its applets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ValidatedImage, assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type BaseImage, type BaseImages, ensureBaseImages, loadArm64BaseImage, pushMultiPlatformBaseImages } from '../helpers/base-images.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { foreignBusyboxApplets } from '../../testdata/base-images/recipes.ts';
import { DEBS_DIR, readStamp } from '../../testdata/base-images/stamp.ts';

const execFileP = promisify(execFile);
const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;
const QEMU_AARCH64 = '/usr/bin/qemu-aarch64-static';

let images: BaseImages;
let work: string;

async function out(cmd: string, args: readonly string[]): Promise<string> {
  return (await execFileP(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
}

/** What Python's gzip + tarfile find in a layer: /bin/busybox's first 64 bytes and every symlink (and the binary written out, with its mode, if asked). */
interface LayerFacts {
  header: Buffer;
  symlinks: Map<string, string>;
  /** Every entry as [path, tar type, mode, uid, gid], in layer order. */
  entries: [string, string, number, number, number][];
}

const READ_LAYER = `
import gzip, json, os, sys, tarfile
layer, dest = sys.argv[1], sys.argv[2]
header, links, entries = None, {}, []
with gzip.open(layer) as g, tarfile.open(fileobj=g, mode='r|') as t:
    for m in t:
        name = m.name[2:] if m.name.startswith('./') else m.name
        entries.append([name.rstrip('/'), m.type.decode(), m.mode, m.uid, m.gid])
        if m.issym():
            links[name] = m.linkname
        elif m.isfile() and name == 'bin/busybox':
            data = t.extractfile(m).read()
            header = data[:64].hex()
            if dest:
                with open(dest, 'wb') as f:
                    f.write(data)
                # busybox run through qemu-user fails (exit 1, no output) when its file is not executable.
                os.chmod(dest, m.mode)
print(json.dumps({'header': header, 'symlinks': links, 'entries': entries}))
`;

async function layerFacts(image: BaseImage, binaryDest = ''): Promise<LayerFacts> {
  const manifest = JSON.parse(readFileSync(join(image.layout, 'blobs', 'sha256', image.manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 1, `${image.name}: one layer`);
  const layer = join(image.layout, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7));
  const facts = JSON.parse(await out('python3', ['-c', READ_LAYER, layer, binaryDest])) as { header: string | null; symlinks: Record<string, string>; entries: LayerFacts['entries'] };
  assert.ok(facts.header !== null, `${image.name}: no bin/busybox in the layer`);
  return { header: Buffer.from(facts.header, 'hex'), symlinks: new Map(Object.entries(facts.symlinks)), entries: facts.entries };
}

/** The layout's own index.json entry for its one image, read as JSON (not through the stamp). */
function layoutEntry(layout: string): { digest: string; mediaType: string; size: number; annotations?: Record<string, string> } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[] };
  assert.equal(index.manifests.length, 1, `${layout}/index.json: one entry`);
  return index.manifests[0]!;
}

before(async () => {
  images = await ensureBaseImages();
  work = mkdtempSync(join(tmpdir(), 'kiln-base-images-arm64-'));
});

after(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the arm64 busybox', () => {
  let arm64: LayerFacts;
  let amd64: LayerFacts;
  let validated: ValidatedImage;
  const binary = (): string => join(work, 'busybox-arm64');

  before(async () => {
    arm64 = await layerFacts(images.busyboxArm64, binary());
    amd64 = await layerFacts(images.busybox);
    const found = await assertValidLayout(images.busyboxArm64.layout);
    assert.equal(found.length, 1);
    validated = found[0]!;
  });

  test('its config says linux/arm64 (no variant), with busybox\'s Env and Cmd; skopeo reads the same manifest and config', async () => {
    assert.equal(validated.manifestDigest, images.busyboxArm64.manifestDigest);
    assert.equal(validated.manifest.config.digest, images.busyboxArm64.configDigest);
    const c = validated.config as ValidatedImage['config'] & { variant?: string };
    assert.equal(c.architecture, 'arm64');
    assert.equal(c.os, 'linux');
    assert.equal(c.variant, undefined);
    assert.deepEqual(images.busyboxArm64.platform, { os: 'linux', architecture: 'arm64' });
    const [amd64Image] = await assertValidLayout(images.busybox.layout);
    assert.deepEqual(c.config, amd64Image!.config.config);
    assert.equal(amd64Image!.config.architecture, 'amd64');
    const raw = await out('skopeo', ['inspect', '--raw', images.busyboxArm64.ociRef]);
    assert.equal(sha256(raw), images.busyboxArm64.manifestDigest);
    const config = JSON.parse(await out('skopeo', ['inspect', '--config', images.busyboxArm64.ociRef])) as { architecture: string; os: string };
    assert.deepEqual([config.os, config.architecture], ['linux', 'arm64']);
    // The layout names it after its local-store tag, busybox:arm64.
    assert.equal(layoutEntry(images.busyboxArm64.layout).annotations?.['org.opencontainers.image.ref.name'], 'arm64');
  });

  test('/bin/busybox in its layer is a 64-bit little-endian AArch64 ELF; the amd64 image\'s is x86-64', () => {
    for (const [facts, machine] of [[arm64, EM_AARCH64], [amd64, EM_X86_64]] as const) {
      assert.deepEqual([...facts.header.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
      assert.equal(facts.header[4], 2, 'EI_CLASS: ELFCLASS64');
      assert.equal(facts.header[5], 1, 'EI_DATA: ELFDATA2LSB');
      assert.equal(facts.header.readUInt16LE(18), machine, 'e_machine');
    }
  });

  test('it has the same applet symlinks as the amd64 image, every one to /bin/busybox', () => {
    assert.ok(arm64.symlinks.size > 250, `${arm64.symlinks.size} symlinks`);
    assert.deepEqual(arm64.symlinks, amd64.symlinks);
    for (const [name, target] of arm64.symlinks) assert.equal(target, '/bin/busybox', name);
    assert.ok(arm64.symlinks.has('bin/sh'));
  });

  test('its layer lays out the same tree as the amd64 one: paths, types, modes and owners, in the same order', () => {
    assert.equal(arm64.entries.length, readStamp()!.images['busybox-arm64'].rootfsEntries);
    assert.deepEqual(arm64.entries, amd64.entries);
    assert.deepEqual(arm64.entries.find(([p]) => p === 'bin/busybox'), ['bin/busybox', '0', 0o755, 0, 0]);
  });

  test('under qemu-user, the arm64 binary lists exactly those applets', { skip: existsSync(QEMU_AARCH64) ? false : `${QEMU_AARCH64} is not installed` }, async () => {
    const listed = (await out(QEMU_AARCH64, [binary(), '--list-full'])).split('\n').filter((l) => l !== '' && l !== 'linuxrc' && l !== 'bin/busybox');
    assert.deepEqual(listed.sort(), [...arm64.symlinks.keys()].sort());
  });

  test('the stamp records one busybox-static .deb per architecture, side by side in the cache, of one version', async () => {
    const recorded = readStamp()!.debs.filter((d) => d.file.startsWith('busybox-static_'));
    assert.deepEqual(recorded.map((d) => d.file.slice(d.file.lastIndexOf('_') + 1)), ['amd64.deb', 'arm64.deb']);
    const fields = await Promise.all(recorded.map(async (d) => {
      const path = join(DEBS_DIR, d.file);
      assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), d.sha256, d.file);
      const text = await out('dpkg-deb', ['-f', path, 'Architecture', 'Version']);
      return Object.fromEntries(text.trim().split('\n').map((l) => l.split(': ') as [string, string]));
    }));
    assert.deepEqual(fields.map((f) => f.Architecture), ['amd64', 'arm64']);
    assert.equal(fields[0]!.Version, fields[1]!.Version);
  });
});

describe('foreignBusyboxApplets', () => {
  test('takes the host\'s list for the same version and refuses another version, naming both', () => {
    const host = { version: '1:1.35.0-4', applets: ['bin/sh', 'usr/bin/wc'] };
    assert.deepEqual(foreignBusyboxApplets(host, { version: '1:1.35.0-4', arch: 'arm64' }), host.applets);
    assert.throws(() => foreignBusyboxApplets(host, { version: '1:1.36.1-1', arch: 'arm64' }), /busybox-static arm64 is version 1:1\.36\.1-1 but the host's is 1:1\.35\.0-4/);
  });
});

describe('the two-platform index', () => {
  let indexBytes: Buffer;
  let index: { schemaVersion: number; mediaType: string; manifests: { mediaType: string; digest: string; size: number; platform: Record<string, string> }[] };

  before(() => {
    const entry = layoutEntry(images.busyboxIndex.layout);
    assert.equal(entry.mediaType, INDEX_TYPE);
    assert.equal(entry.annotations?.['org.opencontainers.image.ref.name'], 'latest');
    indexBytes = readFileSync(join(images.busyboxIndex.layout, 'blobs', 'sha256', entry.digest.slice(7)));
    assert.equal(sha256(indexBytes), entry.digest);
    assert.equal(indexBytes.length, entry.size);
    index = JSON.parse(indexBytes.toString('utf8')) as typeof index;
  });

  test('lists linux/amd64 and linux/arm64, each the manifest of the single-platform layout, with nothing but descriptor and platform', () => {
    assert.equal(sha256(indexBytes), images.busyboxIndex.digest);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, INDEX_TYPE);
    const single = [images.busybox.layout, images.busyboxArm64.layout].map(layoutEntry);
    assert.deepEqual(index.manifests, [
      { mediaType: MANIFEST_TYPE, digest: single[0]!.digest, size: single[0]!.size, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: MANIFEST_TYPE, digest: single[1]!.digest, size: single[1]!.size, platform: { architecture: 'arm64', os: 'linux' } },
    ]);
    assert.deepEqual(images.busyboxIndex.platforms, [
      { platform: { os: 'linux', architecture: 'amd64' }, manifestDigest: images.busybox.manifestDigest },
      { platform: { os: 'linux', architecture: 'arm64' }, manifestDigest: images.busyboxArm64.manifestDigest },
    ]);
  });

  test('is canonical JSON (Python\'s sort_keys, no whitespace), and so is the layout\'s index.json', async () => {
    const canonical = 'import json, sys\nfor p in sys.argv[1:]:\n    print(json.dumps(json.load(open(p)), sort_keys=True, separators=(",", ":")))';
    const indexPath = join(images.busyboxIndex.layout, 'blobs', 'sha256', images.busyboxIndex.digest.slice(7));
    const topPath = join(images.busyboxIndex.layout, 'index.json');
    assert.equal(await out('python3', ['-c', canonical, indexPath, topPath]), `${indexBytes.toString('utf8')}\n${readFileSync(topPath, 'utf8')}\n`);
  });

  test('the layout is valid and self-contained: every blob of both images is in it, re-hashed', async () => {
    const found = await assertValidLayout(images.busyboxIndex.layout);
    assert.deepEqual(found.map((i) => [i.manifestDigest, i.config.architecture]), [[images.busybox.manifestDigest, 'amd64'], [images.busyboxArm64.manifestDigest, 'arm64']]);
    const blobs = readdirSync(join(images.busyboxIndex.layout, 'blobs', 'sha256'));
    assert.equal(blobs.length, 1 + 2 * 3, blobs.join(' '));
    for (const b of blobs) assert.equal(statSync(join(images.busyboxIndex.layout, 'blobs', 'sha256', b)).mode & 0o222, 0, `${b} is read-only`);
  });

  test('umoci lists the index\'s ref and reads the arm64 layout\'s layer', { skip: existsSync('/usr/bin/umoci') ? false : 'umoci is not installed' }, async () => {
    assert.equal(await out('umoci', ['ls', '--layout', images.busyboxIndex.layout]), 'latest\n');
    // umoci 0.4.7 picks no platform from an index (`tag is ambiguous`): it reads the single-platform layout instead.
    const stat = JSON.parse(await out('umoci', ['stat', '--json', '--image', `${images.busyboxArm64.layout}:arm64`])) as { history: { layer: { digest: string } | null }[] };
    const manifest = JSON.parse(readFileSync(join(images.busyboxArm64.layout, 'blobs', 'sha256', images.busyboxArm64.manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    assert.deepEqual(stat.history.flatMap((h) => (h.layer === null ? [] : [h.layer.digest])), manifest.layers.map((l) => l.digest));
  });

  test('skopeo reads it from the layout and picks each platform\'s image', async () => {
    assert.equal(sha256(await out('skopeo', ['inspect', '--raw', images.busyboxIndex.ociRef])), images.busyboxIndex.digest);
    for (const image of [images.busybox, images.busyboxArm64]) {
      const arch = image.platform.architecture;
      const config = await out('skopeo', ['--override-arch', arch, '--override-os', 'linux', 'inspect', '--config', '--raw', images.busyboxIndex.ociRef]);
      assert.equal(sha256(config), image.configDigest, arch);
    }
  });
});

describe('pushMultiPlatformBaseImages, to a real registry', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'open' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('busybox and alpine are the index, golang its single image, at the digests the script wrote', async () => {
    const pushed = await pushMultiPlatformBaseImages(reg);
    const expected = new Map([
      ['library/busybox:latest', images.busyboxIndex.digest],
      ['library/alpine:latest', images.busyboxIndex.digest],
      ['library/golang:1.9-alpine', images.golang.manifestDigest],
    ]);
    assert.deepEqual(pushed, expected);
    for (const [name, digest] of expected) assert.equal(sha256(await skopeoInspect(reg, name, { raw: true })), digest, name);
    const served = JSON.parse(await skopeoInspect(reg, 'library/busybox:latest', { raw: true })) as { mediaType: string };
    assert.equal(served.mediaType, INDEX_TYPE);
  });

  test('skopeo --override-arch picks the arm64 (and the amd64) manifest out of the pushed index', async () => {
    for (const image of [images.busyboxArm64, images.busybox]) {
      const arch = image.platform.architecture;
      const inspected = JSON.parse(await skopeoInspect(reg, 'library/alpine:latest', { arch, os: 'linux' })) as { Architecture: string; Layers: string[] };
      assert.equal(inspected.Architecture, arch);
      const manifest = JSON.parse(readFileSync(join(image.layout, 'blobs', 'sha256', image.manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      assert.deepEqual(inspected.Layers, manifest.layers.map((l) => l.digest), arch);
      assert.equal(sha256(await skopeoInspect(reg, 'library/busybox:latest', { arch, os: 'linux', config: true, raw: true })), image.configDigest, arch);
      // The manifest the index names for that platform is in the registry under its digest, byte for byte.
      assert.equal(sha256(await skopeoInspect(reg, `library/busybox@${image.manifestDigest}`, { raw: true })), image.manifestDigest, arch);
    }
  });
});

describe('loadArm64BaseImage', () => {
  test('puts busybox:arm64 into a local store, leaving busybox:latest free; again, it changes nothing', async () => {
    const home = join(work, 'home');
    const image = await loadArm64BaseImage(home);
    assert.equal(image.manifestDigest, images.busyboxArm64.manifestDigest);
    const indexPath = join(home, 'index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]), [['docker.io/library/busybox:arm64', images.busyboxArm64.manifestDigest]]);
    assert.equal(sha256(await out('skopeo', ['inspect', '--raw', `oci:${home}:docker.io/library/busybox:arm64`])), images.busyboxArm64.manifestDigest);
    const before = readFileSync(indexPath);
    const mtime = statSync(indexPath).mtimeMs;
    await loadArm64BaseImage(home);
    assert.deepEqual(readFileSync(indexPath), before);
    assert.equal(statSync(indexPath).mtimeMs, mtime);
  });
});
