/**
 * Fuzzes what kiln does with the manifests, indexes and configs it pulls.
 * Each case is a small registry's worth of documents: an image tree from
 * the seeds (OCI and Docker indexes, nested indexes, manifests with and
 * without layers, artifacts, the OCI image-spec example documents from
 * testdata/conformance) with one or two documents mutated by
 * mutate-json.ts, JSON-aware or byte-level. The digests of the documents
 * above a mutated one are usually recomputed, so the mutation gets past
 * digest verification into the parsers; sometimes the old digest is kept
 * (the registry then serves bytes that do not match, or nothing).
 *
 * Stages, each of which must resolve or reject with a KilnError:
 *
 * - parse: every document through parseManifest, parseIndex,
 *   parseImageConfig and validateOciDocument;
 * - pull: readSource on `docker://` through the real RegistryClient, from a
 *   fault proxy (spec/registry/fault-proxy.ts) that answers every request
 *   itself with the case's documents (getManifest, manifest media type
 *   sniffing, selectNode and platform matching, loadNode, assembleImage);
 * - use: what a build does with the pulled image: the blob and manifest
 *   lists a copy walks, stageBaseImage and its ONBUILD triggers parsed,
 *   the layers read and checked against their diffIDs;
 * - store: the same documents from a content store (imageFromStore, and
 *   selectNode through storeReader, as for `oci:` and the local store).
 *
 *   node --import tsx spec/fuzz/fuzz-manifest.ts [--count 10000] [--seed 1] (fuzz-kit.ts USAGE for the rest)
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ContentStore } from '../../lib/content/index.ts';
import { type Digest, sha256 } from '../../lib/digest/index.ts';
import { parseTrigger, stageBaseImage } from '../../lib/executor/base-image.ts';
import { type Image, imageFromStore } from '../../lib/image/index.ts';
import { type Descriptor, MediaType, parseImageConfig, parseIndex, parseManifest, validateOciDocument } from '../../lib/oci/index.ts';
import { parseRef } from '../../lib/ref/index.ts';
import { RegistryClient, staticCredentials } from '../../lib/registry/index.ts';
import { readSource } from '../../lib/transport/image-source.ts';
import { type ManifestNode, childManifests, uniqueBlobs } from '../../lib/transport/manifest-node.ts';
import { type PlatformChoice, selectNode } from '../../lib/transport/select-node.ts';
import { storeReader } from '../../lib/transport/content-readers.ts';
import { type FaultProxy, startFaultProxy } from '../registry/fault-proxy.ts';
import { type FuzzTarget, type Random, chance, int, pick, runFuzz } from './fuzz-kit.ts';
import { mutateBytes, mutateValue, serialize, type Style } from './mutate-json.ts';
import { tar } from './tar-craft.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const EXAMPLES = join(ROOT, 'testdata/conformance/oci-image-spec-schema');
const REPO = 'fuzz/img';
/** Cases between two wipes of the content store (mutated documents reach megabytes). */
const STORE_CASES = 200;

/** One document of a seed tree: what its parent's descriptor says, its value, and what it references. */
interface Doc {
  mediaType: string;
  /** Parsed JSON; undefined for layers and other opaque blobs. */
  value?: unknown;
  bytes: Buffer;
  children: Doc[];
  platform?: { os: string; architecture: string; variant?: string };
}

/** A case: what the registry serves. Serialized as JSON, so a saved input replays exactly. */
interface World {
  /** The tag's manifest, its Content-Type (null: none) and Docker-Content-Digest (null: none). */
  top: string;
  topContentType: string | null;
  topDigestHeader: string | null;
  /** The media type a layout or local store would record for the top (its parent's view). */
  topMediaType: string;
  /** Everything else by digest: [digest, media type for Content-Type, base64 bytes]. */
  blobs: [string, string, string][];
  choice: PlatformChoice;
}

interface State {
  /** Image trees made here, and the image-spec examples (mostly invalid, and referencing nothing). */
  seeds: { trees: Doc[]; examples: Doc[] };
  proxy?: FaultProxy;
  client?: RegistryClient;
  world?: { top: Buffer; topContentType: string | null; topDigestHeader: string | null; blobs: Map<string, { mediaType: string; bytes: Buffer }> };
  store?: { dir: string; store: ContentStore; cases: number };
}

// ---- seeds ----------------------------------------------------------------------------------

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v, null, 2));
const descriptorOf = (d: Doc): Descriptor => ({
  mediaType: d.mediaType,
  digest: sha256(d.bytes),
  size: d.bytes.length,
  ...(d.platform !== undefined ? { platform: d.platform } : {}),
});

function layer(n: number, gzip: boolean): Doc & { diffId: Digest } {
  const t = tar([{ name: `etc/file-${n}`, data: Buffer.from(`content ${n}\n`) }, { name: `usr/bin/tool-${n}`, data: Buffer.from('#!/bin/sh\n'), mode: 0o755 }]);
  const bytes = gzip ? gzipSync(t) : t;
  return { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, bytes, children: [], diffId: sha256(t) };
}

function config(mediaType: string, platform: { os: string; architecture: string; variant?: string }, diffIds: Digest[], run: Record<string, unknown> = {}): Doc {
  const value = {
    ...platform,
    created: '2024-05-01T12:00:00Z',
    author: 'fuzz',
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'], Cmd: ['/bin/sh'], WorkingDir: '/', Labels: { a: 'b' }, ...run },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: '2024-05-01T12:00:00Z', created_by: `RUN step ${i}` })).concat([{ created: '2024-05-01T12:00:00Z', created_by: 'CMD ["/bin/sh"]', empty_layer: true } as never]),
  };
  return { mediaType, value, bytes: json(value), children: [] };
}

function manifest(kind: 'oci' | 'docker', cfg: Doc, layers: Doc[], extra: Record<string, unknown> = {}, platform?: Doc['platform']): Doc {
  const mediaType = kind === 'oci' ? MediaType.OciManifest : MediaType.DockerManifest;
  const value = { schemaVersion: 2, mediaType, config: descriptorOf(cfg), layers: layers.map(descriptorOf), ...extra };
  return { mediaType, value, bytes: json(value), children: [cfg, ...layers], ...(platform !== undefined ? { platform } : {}) };
}

function index(kind: 'oci' | 'docker', children: Doc[], extra: Record<string, unknown> = {}): Doc {
  const mediaType = kind === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList;
  const value = { schemaVersion: 2, mediaType, manifests: children.map(descriptorOf), ...extra };
  return { mediaType, value, bytes: json(value), children };
}

function image(kind: 'oci' | 'docker', platform: { os: string; architecture: string; variant?: string }, layerCount: number, run?: Record<string, unknown>): Doc {
  const layers = Array.from({ length: layerCount }, (_, i) => layer(i + layerCount * 10, kind === 'docker' || i > 0));
  const cfgType = kind === 'oci' ? MediaType.OciConfig : MediaType.DockerConfig;
  if (kind === 'docker') for (const l of layers) l.mediaType = MediaType.DockerLayerGzip;
  return manifest(kind, config(cfgType, platform, layers.map((l) => l.diffId), run), layers, {}, platform);
}

function seeds(): State['seeds'] {
  const amd64 = { os: 'linux', architecture: 'amd64' };
  const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
  const rich = { Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Retries: 3 }, OnBuild: ['RUN echo onbuild', 'ENV A=b'], Shell: ['/bin/sh', '-c'], ExposedPorts: { '80/tcp': {} }, Volumes: { '/data': {} }, User: '1000:1000', StopSignal: 'SIGTERM' };
  const attestationLayer: Doc = { mediaType: 'application/vnd.in-toto+json', bytes: json({ _type: 'https://in-toto.io/Statement/v0.1', subject: [] }), children: [] };
  const attestation = manifest('oci', { mediaType: 'application/vnd.oci.image.config.v1+json', value: {}, bytes: Buffer.from('{}'), children: [] }, [attestationLayer], {}, { os: 'unknown', architecture: 'unknown' });
  const emptyConfig: Doc = { mediaType: 'application/vnd.oci.empty.v1+json', value: {}, bytes: Buffer.from('{}'), children: [] };
  const trees: Doc[] = [
    index('oci', [image('oci', amd64, 2, rich), image('oci', arm64, 1), image('oci', armv7, 1), attestation], { annotations: { 'org.opencontainers.image.ref.name': 'latest' } }),
    index('docker', [image('docker', amd64, 2), image('docker', arm64, 1)]),
    image('oci', amd64, 2, rich),
    image('docker', amd64, 0),
    index('oci', [index('oci', [image('oci', amd64, 1)]), image('oci', arm64, 1)]),
    manifest('oci', emptyConfig, [attestationLayer], { artifactType: 'application/vnd.example+type', subject: descriptorOf(image('oci', amd64, 1)) }),
  ];
  const examples: Doc[] = [];
  // The image-spec's example documents: manifests and indexes as the tag's document (what they
  // reference is missing), configs in place of a real image's config.
  const list = JSON.parse(readFileSync(join(EXAMPLES, 'examples/index.json'), 'utf8')) as { tests: { file: string; mediaType: string }[]; docs: { file: string; mediaType: string }[] };
  for (const { file, mediaType } of [...list.tests, ...list.docs]) {
    const bytes = readFileSync(join(EXAMPLES, file));
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      value = undefined;
    }
    if (mediaType === MediaType.OciManifest || mediaType === MediaType.OciIndex) examples.push({ mediaType, value, bytes, children: [] });
    if (mediaType === MediaType.OciConfig) examples.push(manifest('oci', { mediaType, value, bytes, children: [] }, [layer(99, true)], {}, amd64));
  }
  return { trees, examples };
}

// ---- mutation -----------------------------------------------------------------------------

interface Work extends Doc {
  children: Work[];
  dirty: boolean;
  raw: boolean;
}

function clone(d: Doc): Work {
  return { ...d, value: d.value === undefined ? undefined : structuredClone(d.value), bytes: Buffer.from(d.bytes), children: d.children.map(clone), dirty: false, raw: false };
}

function flatten(d: Work): Work[] {
  return [d, ...d.children.flatMap(flatten)];
}

/** Points every descriptor in `v` that names `from` at `to` instead. */
function redirect(v: unknown, from: string, to: Descriptor): boolean {
  let hit = false;
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(visit);
    else if (x !== null && typeof x === 'object' && x.constructor === Object) {
      const o = x as Record<string, unknown>;
      if (o['digest'] === from) {
        o['digest'] = to.digest;
        o['size'] = to.size;
        hit = true;
      }
      Object.values(o).forEach(visit);
    }
  };
  visit(v);
  return hit;
}

const STYLES: Style[] = [{ indent: '', newline: '' }, { indent: '  ', newline: '\n' }, { indent: '   ', newline: '\n' }, { indent: '\t', newline: '\r\n' }];
const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: '386' },
  { os: 'windows', architecture: 'amd64' }, { os: 'linux', architecture: 'ppc64le' }, { os: 'linux', architecture: 'amd64', variant: 'v3' },
];

function generate(state: State, random: Random): Uint8Array {
  const tree = clone(pick(random, chance(random, 0.8) ? state.seeds.trees : state.seeds.examples));
  const docs = flatten(tree);
  const jsonDocs = docs.filter((d) => d.value !== undefined);
  for (let n = chance(random, 0.7) ? 1 : 2; n > 0; n--) {
    const d = jsonDocs.length > 0 && chance(random, 0.9) ? pick(random, jsonDocs) : pick(random, docs);
    if (d.value !== undefined && chance(random, 0.75)) {
      for (let k = 1 + int(random, 2); k > 0; k--) d.value = mutateValue(d.value, random);
      d.dirty = true;
    } else d.raw = true;
  }
  const style = pick(random, STYLES);
  const blobs = new Map<string, [string, Buffer]>();
  const emit = (d: Work): void => {
    for (const c of d.children) {
      const before = sha256(c.bytes);
      emit(c);
      const after = descriptorOf(c);
      if (before === after.digest) continue;
      // Usually the parent follows (the mutation reaches the parsers); else it names the old digest,
      // which the registry then answers with the new bytes (a lying registry) or not at all.
      if (d.value !== undefined && chance(random, 0.9) && redirect(d.value, before, after)) d.dirty = true;
      else if (chance(random, 0.5)) blobs.set(before, [c.mediaType, c.bytes]);
    }
    if (d.dirty && d.value !== undefined) d.bytes = Buffer.from(serialize(d.value, style));
    if (d.raw) d.bytes = mutateBytes(d.bytes, random);
    if (d !== tree) blobs.set(sha256(d.bytes), [d.mediaType, d.bytes]);
  };
  emit(tree);
  const topDigest = sha256(tree.bytes);
  const world: World = {
    top: tree.bytes.toString('base64'),
    topContentType: pick(random, [tree.mediaType, tree.mediaType, tree.mediaType, 'application/json', null, 'text/plain; charset=utf-8', 'application/vnd.docker.distribution.manifest.v1+prettyjws', pick(random, PLATFORMS).os]),
    topDigestHeader: pick(random, [null, null, null, topDigest, topDigest, sha256(Buffer.from('other')), 'sha256:nothex', 'sha512:00']),
    topMediaType: chance(random, 0.9) ? tree.mediaType : pick(random, [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifest, MediaType.DockerManifestList, MediaType.OciConfig]),
    blobs: [...blobs].map(([digest, [mediaType, bytes]]) => [digest, mediaType, bytes.toString('base64')]),
    choice: chance(random, 0.2) ? { kind: 'all' } : { kind: 'platform', platform: pick(random, PLATFORMS) },
  };
  return Buffer.from(JSON.stringify(world));
}

// ---- running --------------------------------------------------------------------------------

/** What the registry answers: the case's documents, 404 for anything else. */
function answer(state: State, req: { method: string; path: string }): { status: number; headers?: Record<string, string>; body?: Buffer } {
  const w = state.world;
  if (req.path === '/v2/' || req.path === '/v2') return { status: 200, headers: { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }, body: Buffer.from('{}') };
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(req.path);
  if (w === undefined || m === null || m[1] !== REPO) return { status: 404, body: Buffer.from('{"errors":[{"code":"NAME_UNKNOWN"}]}') };
  const [, , kind, ref] = m;
  if (kind === 'manifests' && ref === 'latest') {
    const headers: Record<string, string> = {};
    if (w.topContentType !== null) headers['content-type'] = w.topContentType;
    if (w.topDigestHeader !== null) headers['docker-content-digest'] = w.topDigestHeader;
    return { status: 200, headers, body: w.top };
  }
  const hit = w.blobs.get(decodeURIComponent(ref ?? ''));
  if (hit === undefined) {
    return { status: 404, headers: { 'content-type': 'application/json' }, body: Buffer.from(`{"errors":[{"code":"${kind === 'manifests' ? 'MANIFEST' : 'BLOB'}_UNKNOWN"}]}`) };
  }
  return { status: 200, headers: { 'content-type': kind === 'manifests' ? hit.mediaType : 'application/octet-stream', 'docker-content-digest': ref ?? '' }, body: hit.bytes };
}

async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

/** What a copy and a build do with a pulled tree: walk its blobs and manifests, start a stage from each image, read its layers. */
async function usePulled(node: ManifestNode): Promise<void> {
  uniqueBlobs(node);
  childManifests(node);
  const images: Image[] = [];
  const visit = (n: ManifestNode): void => {
    if (n.image !== undefined) images.push(n.image);
    n.children.forEach(visit);
  };
  visit(node);
  for (const img of images.slice(0, 4)) {
    const { triggers } = stageBaseImage(img);
    // ONBUILD_INVALID wraps whatever the parser threw; the runner flags a wrapped engine TypeError.
    for (const t of triggers.slice(0, 20)) parseTrigger(t, { file: 'Dockerfile', line: 1 });
    for (const l of img.layers.slice(0, 3)) await drain(await l.openUncompressed());
  }
}

const target: FuzzTarget<State> = {
  name: 'fuzz-manifest',
  unit: 'manifest trees',
  load: () => ({ seeds: seeds() }),
  generate,
  async start(state) {
    state.proxy = await startFaultProxy('http://127.0.0.1:9', (req) => ({ respond: answer(state, req) }));
    state.client = new RegistryClient({ insecureRegistries: [state.proxy.host], credentials: staticCredentials({}), retry: { attempts: 1 } });
  },
  async run(state, input, ctx) {
    const w = JSON.parse(Buffer.from(input).toString('utf8')) as World;
    const top = Buffer.from(w.top, 'base64');
    const blobs = new Map(w.blobs.map(([digest, mediaType, b64]) => [digest, { mediaType, bytes: Buffer.from(b64, 'base64') }]));
    state.world = { top, topContentType: w.topContentType, topDigestHeader: w.topDigestHeader, blobs };
    const docs = [top, ...[...blobs.values()].filter((b) => b.mediaType.endsWith('json')).map((b) => b.bytes)];
    for (const bytes of docs) {
      await ctx.stage('parseManifest', () => parseManifest(bytes, { allowEmptyLayers: true }));
      await ctx.stage('parseIndex', () => parseIndex(bytes));
      await ctx.stage('parseImageConfig', () => parseImageConfig(bytes));
      await ctx.stage('validate', () => {
        for (const mt of [MediaType.OciManifest, MediaType.OciIndex, MediaType.OciConfig, MediaType.DockerManifestList, MediaType.OciLayoutHeader, MediaType.OciDescriptor]) validateOciDocument(mt, bytes);
      });
    }
    const ref = parseRef(`${state.proxy!.host}/${REPO}:latest`);
    const { store } = storeFor(state);
    const scratch = async (): Promise<ContentStore> => store;
    const pulled = await ctx.stage('pull', () => readSource({ kind: 'registry', ref }, w.choice, { client: () => state.client!, home: join(tmpdir(), 'home'), scratch }));
    if (pulled !== undefined) await ctx.stage('use', () => usePulled(pulled.node));
    await ctx.stage('store-put', async () => {
      await store.putBytes(top);
      for (const { bytes } of blobs.values()) await store.putBytes(bytes);
    });
    const desc: Descriptor = { mediaType: w.topMediaType, digest: sha256(top), size: top.length };
    await ctx.stage('imageFromStore', () => imageFromStore(store, desc));
    const local = await ctx.stage('store', () => selectNode(storeReader(store), desc, undefined, w.choice, 'oci:fuzz'));
    if (local !== undefined) await ctx.stage('use-store', () => usePulled(local.node));
  },
  async stop(state) {
    await state.proxy?.stop();
    await state.client?.close();
    if (state.store !== undefined) rmSync(state.store.dir, { recursive: true, force: true });
  },
};

let stores = 0;

/** The content store for one more case: a new one every STORE_CASES cases (the old one removed). */
function storeFor(state: State): { store: ContentStore } {
  if (state.store === undefined || state.store.cases >= STORE_CASES) {
    if (state.store !== undefined) rmSync(state.store.dir, { recursive: true, force: true });
    const dir = join(tmpdir(), `store-${process.pid}-${++stores}`);
    mkdirSync(dir, { recursive: true });
    state.store = { dir, store: new ContentStore(dir), cases: 0 };
  }
  state.store.cases++;
  return state.store;
}

runFuzz(target, import.meta.url, 10_000);
