/**
 * kiln's build cache as an OCI artifact, format version 1 (README "Build
 * cache in a registry"):
 *
 * - an OCI image manifest (image-spec 1.1) with `artifactType`
 *   {@link CACHE_ARTIFACT_TYPE};
 * - its config, of media type {@link CACHE_CONFIG_MEDIA_TYPE}, is the
 *   canonical JSON `{"entries":{KEY:ENTRY,…},"mode":…,"version":1}`: each
 *   KEY the 64 lower-case hex digits of a step's cache key (the local
 *   cache's file name), each ENTRY exactly the JSON the local cache writes
 *   for it (lib/executor/cache-store.ts, `format: kiln.cache.step.v1`);
 * - its `layers` are the real layer blobs the entries name, once each and
 *   sorted by digest, so a cache and the images built with it share blobs
 *   and a registry stores each once. A cache without any layer lists the
 *   OCI empty descriptor instead (image-spec manifest.md's example of an
 *   artifact without layers), as `layers` SHOULD hold one entry.
 *
 * Media type names: `vnd.kiln.` is kiln's vendor tree (RFC 6838); the
 * artifact type names what the artifact is, with no structured-syntax
 * suffix (the manifest is not "a cache encoded as JSON", it points at
 * one), and carries the format version as `.v1`, as OCI's own types do; the
 * config type is JSON, so it ends in `+json` (as `vnd.oci.image.config.v1+json`).
 * A reader that sees another version of either refuses the cache.
 *
 * Encoding is deterministic (canonical JSON, no timestamps): the same
 * entries give the same digest whatever their order. Reading validates
 * everything (CACHE_INVALID): a cache is data from a shared place, never
 * trusted to be well formed.
 */
import { type Digest, digestAlgorithm, sha256 } from '../digest/index.ts';
import { type CacheEntry, entryFromJson, entryToJson } from '../executor/index.ts';
import { MAX_JSON_BLOB } from '../image/index.ts';
import { canonicalJsonBytes, type Descriptor, layerCompression, type Manifest, MediaType, parseManifest } from '../oci/index.ts';
import { MAX_MANIFEST_BYTES } from '../registry/index.ts';
import { CacheError } from './build-error.ts';
import type { CacheMode } from './cache-spec.ts';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.kiln.build-cache.v1';
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.kiln.build-cache.config.v1+json';
export const CACHE_FORMAT_VERSION = 1;

// What the other versions of the two types would look like, to tell "a newer kiln's cache" from "not a cache".
const ARTIFACT_FAMILY = /^application\/vnd\.kiln\.build-cache\.v(\d+)$/;

/** The bytes and descriptor of the OCI empty blob `{}` (image-spec manifest.md "Guidance for an Empty Descriptor"). */
export const EMPTY_BLOB: Buffer = Buffer.from('{}', 'utf8');
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({ mediaType: MediaType.OciEmpty, digest: sha256(EMPTY_BLOB), size: EMPTY_BLOB.length });

const KEY_HEX = /^[a-f0-9]{64}$/;

/** A cache manifest and config ready to store. */
export interface EncodedCache {
  readonly manifest: Buffer;
  /** The manifest's descriptor: media type, digest, size, and `artifactType` (for an index entry). */
  readonly manifestDescriptor: Descriptor;
  readonly config: Buffer;
  readonly configDescriptor: Descriptor;
  /** The manifest's layers: the entries' distinct layer blobs sorted by digest, or {@link EMPTY_DESCRIPTOR} alone. */
  readonly layers: readonly Descriptor[];
}

/**
 * A cache key as format v1 stores it: the 64 hex digits. Accepts the
 * executor's `sha256:<hex>` form too. Throws CACHE_INVALID for anything else.
 */
export function cacheKeyHex(key: string): string {
  const hex = key.startsWith('sha256:') ? key.slice('sha256:'.length) : key;
  if (!KEY_HEX.test(hex)) throw new CacheError('CACHE_INVALID', `${JSON.stringify(key.slice(0, 80))} is not a cache key (64 lower-case hex digits)`, { key });
  return hex;
}

/**
 * Encodes `entries` (keyed as {@link cacheKeyHex} accepts) as a format v1
 * cache. `mode` is recorded for people and tools reading the config; it
 * changes nothing on import. Throws CACHE_INVALID for a bad key, a key given
 * in both forms, or one blob digest described with two sizes, and
 * CACHE_TOO_LARGE when the config or manifest would exceed what every reader
 * accepts (MAX_JSON_BLOB, MAX_MANIFEST_BYTES); CACHE_INVALID for a layer
 * that is not a sha256 blob of a known layer type: a cache kiln could not
 * read back is never written.
 */
export function encodeCache(entries: ReadonlyMap<string, CacheEntry>, opts: { mode?: CacheMode } = {}): EncodedCache {
  const docs: Record<string, unknown> = {};
  const layers = new Map<string, Descriptor>();
  for (const [key, entry] of entries) {
    const hex = cacheKeyHex(key);
    if (Object.hasOwn(docs, hex)) throw new CacheError('CACHE_INVALID', `cache key ${hex} is given twice`, { key: hex });
    docs[hex] = entryToJson(entry);
    if (entry.layer !== undefined) {
      const { mediaType, digest, size } = entry.layer.descriptor;
      // what parseCache would refuse is never written
      if (layerCompression(mediaType) === undefined || digestAlgorithm(digest) !== 'sha256') {
        throw new CacheError('CACHE_INVALID', `entry ${hex}'s layer (${mediaType}, ${digest}) is not a sha256 layer of a known type`, { key: hex });
      }
      layers.set(layerId({ mediaType, digest, size }), { mediaType, digest, size });
    }
  }
  const listed = [...layers.values()].sort(byDigest);
  checkSizes(listed);
  const config = canonicalJsonBytes({ version: CACHE_FORMAT_VERSION, mode: opts.mode, entries: docs });
  if (config.length > MAX_JSON_BLOB) {
    throw new CacheError('CACHE_TOO_LARGE', `the cache of ${entries.size} entries takes ${config.length} bytes, more than the ${MAX_JSON_BLOB} a cache config may hold`, { size: config.length });
  }
  const configDescriptor: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(config), size: config.length };
  const manifestLayers = listed.length > 0 ? listed : [{ ...EMPTY_DESCRIPTOR }];
  const doc: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: CACHE_ARTIFACT_TYPE, config: configDescriptor, layers: manifestLayers };
  const manifest = canonicalJsonBytes(doc);
  if (manifest.length > MAX_MANIFEST_BYTES) {
    throw new CacheError('CACHE_TOO_LARGE', `the cache manifest takes ${manifest.length} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may hold`, { size: manifest.length });
  }
  const manifestDescriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256(manifest), size: manifest.length, artifactType: CACHE_ARTIFACT_TYPE };
  return { manifest, manifestDescriptor, config, configDescriptor, layers: manifestLayers };
}

/**
 * Parses and validates a format v1 cache: the manifest (an OCI image
 * manifest of artifact type {@link CACHE_ARTIFACT_TYPE}, at most
 * MAX_MANIFEST_BYTES) and its config (at most MAX_JSON_BLOB bytes, hashing
 * to the manifest's config descriptor, `version` 1, `entries` whose keys are
 * 64 hex digits and whose values parse as the local cache's entries, with
 * layers of a known layer media type). Every layer an entry names must be
 * in the manifest's layers (same digest, media type and size), and every
 * layer listed must be named by an entry (the empty descriptor aside).
 * Returns the entries by 64-hex key. Throws CACHE_INVALID for any problem,
 * the first one in the message.
 */
export function parseCache(manifestBytes: Uint8Array, configBytes: Uint8Array): Map<string, CacheEntry> {
  const manifest = parseCacheManifest(manifestBytes);
  const { config } = manifest;
  if (configBytes.length > MAX_JSON_BLOB) throw bad(`its config is ${configBytes.length} bytes, more than the ${MAX_JSON_BLOB} allowed`);
  if (configBytes.length !== config.size || sha256(configBytes) !== config.digest) {
    throw bad(`the config given (${configBytes.length} bytes, ${sha256(configBytes)}) is not the one the manifest names (${config.size} bytes, ${config.digest})`);
  }
  const listed = new Map<string, Descriptor>();
  manifest.layers.forEach((d, i) => {
    if (!isEmptyDescriptor(d) && layerCompression(d.mediaType) === undefined) throw bad(`layer ${i} has media type ${JSON.stringify(d.mediaType)}, not a layer type`);
    // kiln stores and verifies sha256 only
    if (digestAlgorithm(d.digest) !== 'sha256') throw bad(`layer ${i} has digest ${d.digest}; only sha256 is supported`);
    const id = layerId(d);
    if (listed.has(id)) throw bad(`layer ${d.digest} is listed twice`);
    listed.set(id, d);
  });
  try {
    checkSizes([...listed.values()]);
  } catch (err) {
    throw bad((err as Error).message);
  }
  const doc = parseJson(configBytes);
  if (!isObject(doc)) throw bad('its config is not a JSON object');
  const { version, mode, entries } = doc;
  if (version !== CACHE_FORMAT_VERSION) throw bad(`its config's version is ${JSON.stringify(version)}; this kiln reads version ${CACHE_FORMAT_VERSION}`);
  if (mode !== undefined && mode !== 'min' && mode !== 'max') throw bad(`its config's mode is ${JSON.stringify(mode)}, not "min" or "max"`);
  if (!isObject(entries)) throw bad('its config has no "entries" object');
  const out = new Map<string, CacheEntry>();
  const named = new Set<string>();
  for (const [key, value] of Object.entries(entries)) {
    if (!KEY_HEX.test(key)) throw bad(`${JSON.stringify(key.slice(0, 80))} is not a cache key (64 lower-case hex digits)`);
    // entryFromJson spreads `config` into an object: a string or an array would become numbered members.
    if (!isObject(value) || !isObject(value['config']) || (value['layer'] !== undefined && !isObject(value['layer']))) {
      throw bad(`entry ${key} is not an object with a "config" object (and a "layer" object, when it has one)`);
    }
    let entry: CacheEntry;
    try {
      entry = entryFromJson(value);
    } catch (cause) {
      throw bad(`entry ${key} does not parse: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
    }
    if (entry.layer !== undefined) {
      const d = entry.layer.descriptor;
      if (layerCompression(d.mediaType) === undefined) throw bad(`entry ${key}'s layer has media type ${JSON.stringify(d.mediaType)}, not a layer type`);
      const id = layerId(d);
      if (!listed.has(id)) throw bad(`entry ${key} names layer ${d.digest} (${d.mediaType}, ${d.size} bytes), which the manifest does not list`);
      named.add(id);
    }
    out.set(key, entry);
  }
  for (const [id, d] of listed) {
    if (!named.has(id) && !isEmptyDescriptor(d)) throw bad(`the manifest lists layer ${d.digest}, which no entry names`);
  }
  return out;
}

/**
 * Parses a manifest and checks it is a format v1 cache manifest, before its
 * config is fetched: media type, artifact type (a newer format version is
 * told apart from a foreign artifact or an image), config media type and
 * size. Throws CACHE_INVALID.
 */
export function parseCacheManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw bad(`its manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
  let m: Manifest;
  try {
    m = parseManifest(bytes, { allowEmptyLayers: true });
  } catch (cause) {
    throw bad(`its manifest does not parse: ${(cause as Error).message}`, cause);
  }
  if (m.mediaType !== MediaType.OciManifest) throw bad(`its manifest is ${JSON.stringify(m.mediaType ?? 'without a media type')}, not an OCI image manifest`);
  if (m.artifactType !== CACHE_ARTIFACT_TYPE) {
    const version = ARTIFACT_FAMILY.exec(m.artifactType ?? '')?.[1];
    if (version !== undefined) throw bad(`it is a kiln build cache of format version ${version}; this kiln reads version ${CACHE_FORMAT_VERSION}`);
    const what = m.artifactType !== undefined ? `an artifact of type ${JSON.stringify(m.artifactType)}` : `an image (config ${JSON.stringify(m.config.mediaType)})`;
    throw bad(`it is ${what}, not a kiln build cache (${CACHE_ARTIFACT_TYPE})`);
  }
  if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) throw bad(`its config has media type ${JSON.stringify(m.config.mediaType)}, not ${CACHE_CONFIG_MEDIA_TYPE}`);
  if (m.config.size > MAX_JSON_BLOB) throw bad(`its config is ${m.config.size} bytes, more than the ${MAX_JSON_BLOB} allowed`);
  return m;
}

/** The distinct layer descriptors of `entries`, by digest (what an import may have to fetch). */
export function cacheLayers(entries: ReadonlyMap<string, CacheEntry>): Map<Digest, Descriptor> {
  const out = new Map<Digest, Descriptor>();
  for (const e of entries.values()) if (e.layer !== undefined && !out.has(e.layer.descriptor.digest)) out.set(e.layer.descriptor.digest, e.layer.descriptor);
  return out;
}

export function isEmptyDescriptor(d: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>): boolean {
  return d.mediaType === EMPTY_DESCRIPTOR.mediaType && d.digest === EMPTY_DESCRIPTOR.digest && d.size === EMPTY_DESCRIPTOR.size;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(why: string, cause?: unknown): CacheError {
  return new CacheError('CACHE_INVALID', `not a valid kiln build cache: ${why}`, { cause });
}

// One blob can be listed under two media types (the same gzip bytes as an OCI and a Docker layer).
function layerId(d: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>): string {
  return `${d.digest} ${d.size} ${d.mediaType}`;
}

function byDigest(a: Descriptor, b: Descriptor): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : a.mediaType < b.mediaType ? -1 : a.mediaType > b.mediaType ? 1 : 0;
}

/** One digest must have one size (else one of them lies). */
function checkSizes(layers: readonly Descriptor[]): void {
  const sizes = new Map<string, number>();
  for (const d of layers) {
    const seen = sizes.get(d.digest);
    if (seen !== undefined && seen !== d.size) throw new CacheError('CACHE_INVALID', `layer ${d.digest} is described as ${seen} and as ${d.size} bytes`, { digest: d.digest });
    sizes.set(d.digest, d.size);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(UTF8.decode(bytes));
  } catch (cause) {
    throw bad(`its config is not JSON: ${(cause as Error).message}`, cause);
  }
}
