/**
 * Manifests: fetch by tag and digest with verification, platform selection
 * from a two-platform index skopeo pushed (checked against skopeo's own
 * choice), and the bad answers a registry can give (crafted by a proxy):
 * not JSON, schema 1, oversized, altered bytes, unknown tags.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaType } from '../../lib/oci/index.ts';
import { RegistryError } from '../../lib/registry/index.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type PushedImage, type PushedIndex, pushIndex, pushRandomImage } from '../helpers/registry-images.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { clientFor, ref, sha256hex } from './client-kit.ts';
import { type Fault, type FaultProxy, startFaultProxy } from './fault-proxy.ts';

const isCode = (code: string) => (e: unknown): boolean => {
  assert.ok(e instanceof RegistryError, String(e));
  assert.equal(e.code, code, e.message);
  return true;
};

let reg: RunningRegistry;
let proxy: FaultProxy;
let image: PushedImage;
let oci: PushedIndex;
let docker: PushedIndex;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  image = await pushRandomImage(reg, 'm/app:v1', { seed: 61, layers: 2 });
  oci = await pushIndex(reg, 'm/multi:v1', { seed: 62 });
  docker = await pushIndex(reg, 'm/multi-docker:v1', { seed: 63, format: 'docker' });
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
});

const client = () => clientFor({ ...reg, host: proxy.host } as RunningRegistry);
async function withClient<T>(fn: (c: ReturnType<typeof client>) => Promise<T>): Promise<T> {
  const c = client();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
/** Applies `fault` to manifest requests for the duration of `fn`. */
async function withManifestFault<T>(fault: Fault, fn: () => Promise<T>): Promise<T> {
  proxy.setRule((r) => (r.path.includes('/manifests/') ? fault : undefined));
  try {
    return await fn();
  } finally {
    proxy.setRule(undefined);
  }
}

describe('fetching', () => {
  test('by tag and by digest, with the registry\'s digest and media type', () => withClient(async (c) => {
    const byTag = await c.getManifest(ref(proxy.host, 'm/app:v1'));
    assert.equal(byTag.digest, image.pushedDigest);
    assert.equal(byTag.mediaType, MediaType.OciManifest);
    const byDigest = await c.getManifest(ref(proxy.host, `m/app@${image.pushedDigest}`));
    assert.ok(byDigest.bytes.equals(byTag.bytes));
    const head = await c.headManifest(ref(proxy.host, 'm/app:v1'));
    assert.deepEqual(head, { mediaType: MediaType.OciManifest, digest: image.pushedDigest, size: byTag.bytes.length });
    assert.equal(await c.headManifest(ref(proxy.host, 'm/app:nope')), undefined);
  }));

  test('an unknown tag is MANIFEST_UNKNOWN naming registry, repository and tag', () => withClient(async (c) => {
    await assert.rejects(c.getManifest(ref(proxy.host, 'm/app:nope')), (e: unknown) => isCode('MANIFEST_UNKNOWN')(e) && (e as Error).message.includes(`${proxy.host}/m/app:nope`));
    // The body's code wins over the status's default.
    const body = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
    await withManifestFault({ respond: { status: 404, headers: { 'content-type': 'application/json' }, body } }, () =>
      assert.rejects(c.getManifest(ref(proxy.host, 'm/never:v1')), (e: unknown) => isCode('NAME_UNKNOWN')(e) && /repository name not known/.test((e as Error).message)));
  }));

  test('an index without a platform comes back as the index', () => withClient(async (c) => {
    const m = await c.getManifest(ref(proxy.host, 'm/multi:v1'));
    assert.equal(m.mediaType, MediaType.OciIndex);
    assert.equal(m.digest, oci.pushedDigest);
    assert.ok(m.bytes.equals(oci.indexBytes));
  }));
});

describe('platform selection from a two-platform index', () => {
  for (const [name, pushed] of [['OCI index', () => oci], ['Docker manifest list', () => docker]] as const) {
    test(`${name}: each platform resolves to its manifest, as skopeo resolves it`, () => withClient(async (c) => {
      const idx = pushed();
      for (const arch of ['amd64', 'arm64']) {
        const m = await c.getManifest(ref(proxy.host, `${idx.name}`), { platform: { os: 'linux', architecture: arch } });
        const expected = idx.images.find((i) => i.platform.architecture === arch)!;
        assert.equal(m.digest, expected.manifestDigest);
        assert.equal(sha256hex(m.bytes), expected.manifestDigest);
        assert.equal(m.index?.digest, idx.pushedDigest);
        const peer = JSON.parse(await skopeoInspect(reg, idx.name, { arch, os: 'linux' })) as { Architecture: string; Layers: string[] };
        const layers = (JSON.parse(m.bytes.toString('utf8')) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
        assert.equal(peer.Architecture, arch);
        assert.deepEqual(peer.Layers, layers);
      }
      const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
      const hostPick = await c.getManifest(ref(proxy.host, idx.name), { platform: { os: 'linux', architecture: host } });
      assert.equal(hostPick.digest, idx.images.find((i) => i.platform.architecture === host)!.manifestDigest);
      await assert.rejects(c.getManifest(ref(proxy.host, idx.name), { platform: { os: 'linux', architecture: 's390x' } }), (e: unknown) =>
        isCode('PLATFORM_UNAVAILABLE')(e) && /linux\/amd64, linux\/arm64/.test((e as Error).message));
    }));
  }

  test('an index that is not a valid index is MANIFEST_INVALID, not a TypeError (found by make fuzz)', () => withClient(async (c) => {
    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [null] }));
    const digest = sha256hex(bad);
    await withManifestFault({ mutateBody: () => bad, setHeaders: { 'content-type': MediaType.OciIndex, 'docker-content-digest': digest } }, () =>
      assert.rejects(c.getManifest(ref(proxy.host, oci.name), { platform: { os: 'linux', architecture: 'amd64' } }), (e: unknown) =>
        isCode('MANIFEST_INVALID')(e) && (e as Error).message.startsWith(`pull of ${proxy.host}/${oci.name}:`)));
  }));
});

describe('bad answers', () => {
  const ociType = { 'content-type': MediaType.OciManifest };

  test('a manifest that is not JSON is MANIFEST_INVALID', () => withClient((c) =>
    withManifestFault({ respond: { status: 200, headers: ociType, body: '<html>not json</html>' } }, () =>
      assert.rejects(c.getManifest(ref(proxy.host, 'm/app:v1')), isCode('MANIFEST_INVALID')))));

  test('a schema 1 manifest is MANIFEST_UNSUPPORTED asking for a re-push', () => withClient(async (c) => {
    const schema1 = JSON.stringify({ schemaVersion: 1, name: 'm/app', tag: 'v1', architecture: 'amd64', fsLayers: [{ blobSum: image.pushedDigest }], history: [{ v1Compatibility: '{}' }], signatures: [] });
    for (const type of ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/json']) {
      await withManifestFault({ respond: { status: 200, headers: { 'content-type': type }, body: schema1 } }, () =>
        assert.rejects(c.getManifest(ref(proxy.host, 'm/app:v1')), (e: unknown) => isCode('MANIFEST_UNSUPPORTED')(e) && /re-push/.test((e as Error).message)));
    }
  }));

  test('a manifest over 4 MiB is MANIFEST_TOO_LARGE, with or without Content-Length', () => withClient(async (c) => {
    const huge = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, annotations: { pad: 'x'.repeat(5 << 20) } });
    for (const chunked of [false, true]) {
      await withManifestFault({ respond: { status: 200, headers: ociType, body: huge, chunked } }, () =>
        assert.rejects(c.getManifest(ref(proxy.host, 'm/app:v1')), isCode('MANIFEST_TOO_LARGE')));
    }
  }));

  test('altered bytes: DIGEST_MISMATCH by digest, and by tag against Docker-Content-Digest', () => withClient(async (c) => {
    const alter = { mutateBody: (b: Buffer) => Buffer.concat([b, Buffer.from(' ')]) };
    await withManifestFault(alter, () => assert.rejects(c.getManifest(ref(proxy.host, `m/app@${image.pushedDigest}`)), isCode('DIGEST_MISMATCH')));
    await withManifestFault(alter, () => assert.rejects(c.getManifest(ref(proxy.host, 'm/app:v1')), isCode('DIGEST_MISMATCH')));
    // Without the header there is nothing to compare a tag's bytes with: the digest is what they hash to.
    const m = await withManifestFault({ ...alter, stripHeaders: ['docker-content-digest'] }, () => c.getManifest(ref(proxy.host, 'm/app:v1')));
    assert.equal(m.digest, sha256hex(m.bytes));
    assert.notEqual(m.digest, image.pushedDigest);
  }));

  test('a dropped connection while reading a manifest is retried', () => withClient(async (c) => {
    let n = 0;
    proxy.setRule((r) => (r.path.includes('/manifests/') && n++ === 0 ? { cutAfter: 10 } : undefined));
    try {
      assert.equal((await c.getManifest(ref(proxy.host, 'm/app:v1'))).digest, image.pushedDigest);
      assert.equal(n, 2);
    } finally {
      proxy.setRule(undefined);
    }
  }));
});

describe('putting', () => {
  test('by tag; a digest reference must match the bytes; the registry\'s digest answer is checked', () => withClient(async (c) => {
    const m = await c.getManifest(ref(proxy.host, 'm/app:v1'));
    const put = await c.putManifest(ref(proxy.host, 'm/app:copy'), m.bytes, m.mediaType);
    assert.deepEqual(put, { mediaType: m.mediaType, digest: image.pushedDigest, size: m.bytes.length });
    await assert.rejects(c.putManifest(ref(proxy.host, `m/app@${oci.pushedDigest}`), m.bytes, m.mediaType), isCode('DIGEST_MISMATCH'));
    proxy.setRule((r) => (r.method === 'PUT' && r.path.includes('/manifests/') ? { setHeaders: { 'docker-content-digest': oci.pushedDigest } } : undefined));
    try {
      await assert.rejects(c.putManifest(ref(proxy.host, 'm/app:copy2'), m.bytes, m.mediaType), isCode('DIGEST_MISMATCH'));
    } finally {
      proxy.setRule(undefined);
    }
  }));

  test('a manifest whose blobs the repository lacks is MANIFEST_BLOB_UNKNOWN', () => withClient(async (c) => {
    const m = await c.getManifest(ref(proxy.host, 'm/app:v1'));
    await assert.rejects(c.putManifest(ref(proxy.host, 'm/elsewhere:v1'), m.bytes, m.mediaType), isCode('MANIFEST_BLOB_UNKNOWN'));
  }));
});
