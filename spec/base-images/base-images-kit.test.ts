/**
 * The base-images test kit (spec/helpers/base-images.ts): the script's cache,
 * loading into a local store, and pushing to a kit registry under Docker
 * Hub's names, checked with skopeo reading the results and node:crypto
 * hashing the manifests it returns.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BaseImages, ensureBaseImages, loadBaseImages, pushBaseImages, runMakeBaseImages } from '../helpers/base-images.ts';
import { runKiln } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let images: BaseImages;
let work: string;

before(async () => {
  images = await ensureBaseImages();
  work = mkdtempSync(join(tmpdir(), 'kiln-base-images-kit-'));
});

after(() => rmSync(work, { recursive: true, force: true }));

/** The files a rebuild would replace, with their identity (inode) and mtime. */
function outputIdentity(): string[] {
  const paths = [join(images.outDir, 'stamp.json'), join(images.busyboxLayout, 'index.json'), join(images.goLayout, 'index.json')];
  return paths.map((p) => {
    const st = statSync(p);
    return `${p} ${st.ino} ${st.mtimeMs}`;
  });
}

test('a second run of the script is a cache hit that rewrites nothing', async (t) => {
  const before = outputIdentity();
  const again = await runMakeBaseImages();
  t.diagnostic(`cached run: ${again.ms} ms`);
  assert.match(again.stderr, /cached in /);
  assert.doesNotMatch(again.stderr, /built /);
  assert.deepEqual(outputIdentity(), before);
});

describe('loadBaseImages', () => {
  const home = (): string => join(work, 'home');

  test('puts busybox:latest, alpine:latest and golang:1.9-alpine into the local store', async () => {
    await loadBaseImages(home());
    const index = JSON.parse(readFileSync(join(home(), 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const names = new Map(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]));
    assert.deepEqual(names, new Map([
      ['docker.io/library/busybox:latest', images.busybox.manifestDigest],
      ['docker.io/library/alpine:latest', images.busybox.manifestDigest],
      ['docker.io/library/golang:1.9-alpine', images.golang.manifestDigest],
    ]));
    // skopeo reads the store (an OCI layout) on its own: same manifest bytes
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${home()}:docker.io/library/golang:1.9-alpine`]);
    assert.equal(sha256(raw), images.golang.manifestDigest);
    const listed = runKiln(['images'], { env: { KILN_HOME: home() } });
    assert.equal(listed.status, 0, listed.stderr);
    for (const [repo, tag] of [['busybox', 'latest'], ['alpine', 'latest'], ['golang', '1.9-alpine']]) {
      assert.match(listed.stdout, new RegExp(`^${repo}\\s+${tag}\\s`, 'm'));
    }
  });

  test('loading again changes nothing', async () => {
    const indexPath = join(home(), 'index.json');
    const before = readFileSync(indexPath);
    const mtime = statSync(indexPath).mtimeMs;
    const again = await runMakeBaseImages(['--home', home()]);
    assert.doesNotMatch(again.stderr, /loaded /);
    assert.deepEqual(readFileSync(indexPath), before);
    assert.equal(statSync(indexPath).mtimeMs, mtime);
  });
});

describe('pushBaseImages', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'open' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('the registry serves the very manifests kiln built under Docker Hub\'s library/ names', async () => {
    const pushed = await pushBaseImages(reg);
    const expected = new Map([
      ['library/busybox:latest', images.busybox.manifestDigest],
      ['library/alpine:latest', images.busybox.manifestDigest],
      ['library/golang:1.9-alpine', images.golang.manifestDigest],
    ]);
    assert.deepEqual(pushed, expected);
    for (const [name, digest] of expected) assert.equal(sha256(await skopeoInspect(reg, name, { raw: true })), digest, name);
  });

  test('kiln pulls `golang:1.9-alpine` through --registry-mirror docker.io=<registry>', async () => {
    const home = join(work, 'pull-home');
    const r = runKiln(['pull', '--registry-mirror', `docker.io=${reg.url}`, 'golang:1.9-alpine'], { env: { KILN_HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    const index = JSON.parse(readFileSync(join(home, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.deepEqual(index.manifests.map((m) => m.digest), [images.golang.manifestDigest]);
  });
});
