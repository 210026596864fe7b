/**
 * Test kit: re-reads an OCI image layout from disk without kiln's code and
 * fails the test unless every byte is what its descriptors claim, in the
 * spirit of go-containerregistry's `validate.Image`. Hashes with node:crypto,
 * decompresses with node:zlib, validates JSON with the real OCI schemas
 * (./oci-schema.ts). Nothing here imports lib/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { schemaErrors } from './oci-schema.ts';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** One image found in the layout, as read back independently. */
export interface ValidatedImage {
  /** `org.opencontainers.image.ref.name` of its index entry, if any. */
  refName: string | undefined;
  manifestDigest: string;
  manifest: { mediaType?: string; config: Desc; layers: Desc[]; annotations?: Record<string, string> };
  config: { architecture: string; os: string; rootfs: { diff_ids: string[] }; history?: unknown[]; config?: Record<string, unknown> };
  /** The diffIDs recomputed from the layer blobs (equal to the config's, or the assertion failed). */
  diffIds: string[];
}

export interface LayoutCheckOptions {
  /** Accept manifests with no layers (the OCI schema requires one). */
  allowEmptyLayers?: boolean;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const GZIP_TYPES = new Set(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
const TAR_TYPES = new Set(['application/vnd.oci.image.layer.v1.tar']);

/**
 * Checks the OCI image layout at `dir`: `oci-layout`; every file under
 * `blobs/` hashes to its name; index.json, every manifest and config are
 * schema-valid; every descriptor's blob exists with its size; each layer,
 * decompressed, hashes to the config's diff_id at its position. Returns the
 * images it found (nested indexes are followed).
 */
export async function assertValidLayout(dir: string, options: LayoutCheckOptions = {}): Promise<ValidatedImage[]> {
  const header = await readFile(join(dir, 'oci-layout'));
  assertSchema('application/vnd.oci.layout.header.v1+json', header, 'oci-layout', options);
  assert.equal(JSON.parse(header.toString('utf8')).imageLayoutVersion, '1.0.0');
  const blobNames = await assertBlobNames(dir);
  const indexBytes = await readFile(join(dir, 'index.json'));
  assertSchema('application/vnd.oci.image.index.v1+json', indexBytes, 'index.json', options);
  const index = JSON.parse(indexBytes.toString('utf8')) as { manifests: Desc[] };
  const images: ValidatedImage[] = [];
  await walkIndex(dir, index.manifests, blobNames, images, options);
  return images;
}

/** Hashes every blob file and checks that its name is its sha256. */
async function assertBlobNames(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  const algorithms = await readdir(join(dir, 'blobs'));
  for (const alg of algorithms) {
    assert.equal(alg, 'sha256', `unexpected blobs/${alg}`);
    for (const hex of await readdir(join(dir, 'blobs', alg))) {
      const actual = await hashFile(join(dir, 'blobs', alg, hex));
      assert.equal(actual, hex, `blobs/sha256/${hex} hashes to ${actual}`);
      names.add(`sha256:${hex}`);
    }
  }
  return names;
}

async function walkIndex(dir: string, entries: Desc[], blobs: Set<string>, out: ValidatedImage[], options: LayoutCheckOptions): Promise<void> {
  for (const entry of entries) {
    const bytes = await readBlob(dir, entry, blobs);
    assertSchema(entry.mediaType, bytes, entry.digest, options);
    if (INDEX_TYPES.has(entry.mediaType)) {
      await walkIndex(dir, (JSON.parse(bytes.toString('utf8')) as { manifests: Desc[] }).manifests, blobs, out, options);
      continue;
    }
    const manifest = JSON.parse(bytes.toString('utf8')) as ValidatedImage['manifest'];
    if (manifest.mediaType !== undefined) assert.equal(manifest.mediaType, entry.mediaType, `${entry.digest}: mediaType differs from its descriptor`);
    const configBytes = await readBlob(dir, manifest.config, blobs);
    assertSchema(manifest.config.mediaType, configBytes, manifest.config.digest, options);
    const config = JSON.parse(configBytes.toString('utf8')) as ValidatedImage['config'];
    assert.equal(config.rootfs.diff_ids.length, manifest.layers.length, `${entry.digest}: diff_ids and layers differ in number`);
    const diffIds: string[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      await readBlob(dir, layer, blobs, false);
      const diffId = await layerDiffId(blobPath(dir, layer.digest), layer.mediaType);
      assert.equal(diffId, config.rootfs.diff_ids[i], `${entry.digest}: layer ${i} decompresses to ${diffId}, config says ${config.rootfs.diff_ids[i]}`);
      diffIds.push(diffId);
    }
    out.push({ refName: entry.annotations?.['org.opencontainers.image.ref.name'], manifestDigest: entry.digest, manifest, config, diffIds });
  }
}

/** Checks a descriptor's blob exists with its size; returns the bytes unless `load` is false. */
async function readBlob(dir: string, d: Desc, blobs: Set<string>, load = true): Promise<Buffer> {
  assert.ok(blobs.has(d.digest), `blob ${d.digest} (${d.mediaType}) is missing`);
  const path = blobPath(dir, d.digest);
  if (!load) {
    const { size } = await stat(path);
    assert.equal(size, d.size, `blob ${d.digest} is ${size} bytes, its descriptor says ${d.size}`);
    return Buffer.alloc(0);
  }
  const bytes = await readFile(path);
  assert.equal(bytes.length, d.size, `blob ${d.digest} is ${bytes.length} bytes, its descriptor says ${d.size}`);
  return bytes;
}

function blobPath(dir: string, digest: string): string {
  const [alg = '', hex = ''] = digest.split(':');
  return join(dir, 'blobs', alg, hex);
}

function assertSchema(mediaType: string, bytes: Buffer, what: string, options: LayoutCheckOptions): void {
  let errors = schemaErrors(mediaType, bytes);
  if (options.allowEmptyLayers === true) errors = errors.filter((e) => !/^\/layers: must NOT have fewer than 1 items/.test(e));
  assert.deepEqual(errors, [], `${what} is not a valid ${mediaType}:\n  ${errors.join('\n  ')}`);
}

/** sha256 of a layer's uncompressed tar. */
export async function layerDiffId(path: string, mediaType: string): Promise<string> {
  if (TAR_TYPES.has(mediaType)) return `sha256:${await hashFile(path)}`;
  assert.ok(GZIP_TYPES.has(mediaType), `layer media type ${mediaType} not supported by the checker`);
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  });
  return `sha256:${hash.digest('hex')}`;
}

/** Hex sha256 of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
