/**
 * Exporting and importing the build cache (lib/build/cache-transfer.ts)
 * with the real registry (Debian's docker-registry, distribution 2.8)
 * behind a counting proxy, and with OCI layouts on disk. What kiln wrote is
 * checked from outside: `skopeo inspect --raw`, blobs fetched directly and
 * hashed with node:crypto, the proxy's count of uploaded bytes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, EMPTY_DESCRIPTOR, cacheKeyHex } from '../../lib/build/cache-manifest.ts';
import { parseCacheFrom, parseCacheTo, type CacheExport, type CacheImport } from '../../lib/build/cache-spec.ts';
import { exportCache, importCache, type ImportedCache, openCacheLayer } from '../../lib/build/cache-transfer.ts';
import { ContentStore } from '../../lib/content/index.ts';
import type { CacheEntry } from '../../lib/executor/index.ts';
import type { Layer } from '../../lib/image/index.ts';
import { RegistryClient, staticCredentials } from '../../lib/registry/index.ts';
import { FAST_RETRY, makeImage, pushImage, readAll, ref } from '../registry/client-kit.ts';
import { type FaultProxy, type ProxyRecord, startFaultProxy } from '../registry/fault-proxy.ts';
import { randomLayer } from '../helpers/random-image.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect, skopeoCopy } from '../helpers/skopeo.ts';

const execFileP = promisify(execFile);
const sha = (b: Uint8Array | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const key = (n: number): string => createHash('sha256').update(`step ${n}`).digest('hex');
const platform = { architecture: 'amd64', os: 'linux' };

let reg: RunningRegistry;
let proxy: FaultProxy;
let client: RegistryClient;
let root: string;
let store: ContentStore;
let entries: Map<string, CacheEntry>;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'kiln-cache-transfer-'));
  store = new ContentStore(join(root, 'home'));
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  client = new RegistryClient({ insecureRegistries: [proxy.host], credentials: staticCredentials({}), retry: FAST_RETRY });
  const layers: Layer[] = [];
  for (const seed of [1, 2, 3]) layers.push((await randomLayer(store, { seed, files: 4, maxFileSize: 40_000 })).layer);
  const fs = (n: number, l: (typeof layers)[number]): CacheEntry => ({
    layer: { descriptor: l.descriptor, diffId: l.diffId, uncompressedSize: l.uncompressedSize! },
    history: { created: '2024-01-01T00:00:00Z', created_by: `RUN step ${n} # buildkit` },
    config: { ...platform, config: { Env: ['PATH=/bin'], WorkingDir: '/w' } },
    args: new Map([['V', '1']]),
    replay: undefined,
  });
  entries = new Map<string, CacheEntry>([
    [`sha256:${key(1)}`, fs(1, layers[0]!)],
    [key(2), fs(2, layers[1]!)],
    [key(3), { layer: undefined, history: { created_by: 'ENV A=b', empty_layer: true }, config: { ...platform, config: { Env: ['A=b'] } }, args: new Map(), replay: undefined }],
    [key(4), { layer: undefined, history: undefined, config: { ...platform, config: { OnBuild: ['RUN x'] } }, args: new Map(), replay: undefined }],
    [key(5), fs(5, layers[2]!)],
    [key(6), { ...fs(6, layers[0]!), history: { created_by: 'COPY . . (same layer as step 1)' } }],
  ]);
});

after(async () => {
  await client?.close();
  await proxy?.stop();
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
});

const toRegistry = (name: string, mode = 'max'): CacheExport => parseCacheTo([`type=registry,ref=${proxy.host}/${name},mode=${mode}`])[0]!;
const fromRegistry = (name: string): CacheImport => parseCacheFrom([`${proxy.host}/${name}`])[0]!;
const expected = (): Map<string, CacheEntry> => new Map([...entries].map(([k, v]) => [cacheKeyHex(k), v]));
const distinctLayers = (): string[] => [...new Set([...entries.values()].flatMap((e) => (e.layer ? [e.layer.descriptor.digest as string] : [])))].sort();

/** Body bytes sent in blob uploads (POST/PATCH/PUT under /blobs/uploads/) among `records`. */
function uploadedBytes(records: readonly ProxyRecord[]): number {
  return records.filter((r) => r.path.includes('/blobs/uploads/')).reduce((n, r) => n + r.bytesIn, 0);
}

async function quietImport(source: CacheImport, opts: { checkBlobs?: boolean } = {}): Promise<{ cache: ImportedCache | undefined; warnings: string[] }> {
  const warnings: string[] = [];
  const cache = await importCache(source, { client, warn: (m) => warnings.push(m), ...opts });
  return { cache, warnings };
}

test('export to the registry: an OCI artifact skopeo reads, its blobs really there; a second export uploads nothing', async () => {
  const first = await exportCache(toRegistry('cache/app:v1'), entries, { client, store });
  assert.deepEqual(first.blobs, { present: 0, mounted: 0, copied: 4 }, '3 layers and the config');

  const raw = await skopeoInspect(reg, 'cache/app:v1', { raw: true });
  assert.equal(sha(raw), first.manifest.digest, 'the manifest skopeo gets is the one kiln reported');
  const m = JSON.parse(raw);
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(m.artifactType, CACHE_ARTIFACT_TYPE);
  assert.equal(m.config.mediaType, CACHE_CONFIG_MEDIA_TYPE);
  assert.deepEqual(m.layers.map((l: { digest: string }) => l.digest), distinctLayers());

  // every blob, fetched from the registry itself (not through kiln), hashes to its digest and matches the store
  for (const d of [...m.layers, m.config] as { digest: string; size: number }[]) {
    const res = await fetch(`${reg.url}/v2/cache/app/blobs/${d.digest}`);
    assert.equal(res.status, 200, d.digest);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(sha(bytes), d.digest);
    assert.equal(bytes.length, d.size);
    if (d !== m.config) assert.ok(bytes.equals(readFileSync(store.path(d.digest as never))));
  }
  const config = JSON.parse(Buffer.from(await (await fetch(`${reg.url}/v2/cache/app/blobs/${m.config.digest}`)).arrayBuffer()).toString('utf8'));
  assert.equal(config.version, 1);
  assert.equal(config.mode, 'max');
  assert.deepEqual(Object.keys(config.entries).sort(), [...expected().keys()].sort());

  const mark = proxy.records.length;
  const second = await exportCache(toRegistry('cache/app:v2'), entries, { client, store });
  const records = proxy.records.slice(mark);
  assert.equal(uploadedBytes(records), 0, 'no blob bytes sent');
  assert.equal(records.filter((r) => r.method === 'POST').length, 0, 'no upload even started');
  assert.deepEqual(second.blobs, { present: 4, mounted: 0, copied: 0 });
  assert.equal(second.manifest.digest, first.manifest.digest, 'the same entries, the same manifest');
  assert.equal(sha(await skopeoInspect(reg, 'cache/app:v2', { raw: true })), first.manifest.digest);
});

test('import from the registry: the same entries, layers located but not downloaded; openCacheLayer fetches one verified', async () => {
  const mark = proxy.records.length;
  const { cache, warnings } = await quietImport(fromRegistry('cache/app:v1'));
  assert.deepEqual(warnings, []);
  assert.ok(cache);
  assert.deepEqual(cache.entries, expected());
  assert.equal(cache.manifest.artifactType, CACHE_ARTIFACT_TYPE);
  assert.deepEqual([...cache.layers.keys()].sort(), distinctLayers());
  for (const l of cache.layers.values()) assert.deepEqual(l.from, { kind: 'registry', repo: { registry: proxy.host, repository: 'cache/app' } });
  const layerGets = proxy.records.slice(mark).filter((r) => r.method === 'GET' && distinctLayers().some((d) => r.path.endsWith(d)));
  assert.equal(layerGets.length, 0, 'no layer blob downloaded by the import');
  const heads = proxy.records.slice(mark).filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/'));
  assert.equal(heads.length, 3, 'each layer checked once, by HEAD');

  const one = cache.layers.get(distinctLayers()[0] as never)!;
  const bytes = await readAll(await openCacheLayer(one, { client }));
  assert.equal(sha(bytes), one.descriptor.digest);
});

test('a cache without layers carries the OCI empty blob, and round-trips', async () => {
  const meta = new Map([...entries].filter(([, e]) => e.layer === undefined));
  const r = await exportCache(toRegistry('cache/meta:1', 'min'), meta, { client, store });
  const m = JSON.parse(await skopeoInspect(reg, 'cache/meta:1', { raw: true }));
  assert.deepEqual(m.layers, [{ ...EMPTY_DESCRIPTOR }]);
  const res = await fetch(`${reg.url}/v2/cache/meta/blobs/${EMPTY_DESCRIPTOR.digest}`);
  assert.equal(Buffer.from(await res.arrayBuffer()).toString(), '{}');
  assert.equal(sha(await skopeoInspect(reg, 'cache/meta:1', { raw: true })), r.manifest.digest);
  const { cache, warnings } = await quietImport(fromRegistry('cache/meta:1'));
  assert.deepEqual(warnings, []);
  assert.equal(cache?.entries.size, 2);
});

test('layers the target repository lacks are mounted from mountFrom', async () => {
  const mark = proxy.records.length;
  const r = await exportCache(toRegistry('other/cache:x'), entries, { client, store, mountFrom: () => 'cache/app' });
  assert.deepEqual(r.blobs, { present: 0, mounted: 3, copied: 1 }, 'layers mounted, the config (tiny) uploaded');
  const mounts = proxy.records.slice(mark).filter((r) => r.method === 'POST' && r.query.get('from') === 'cache/app');
  assert.equal(mounts.length, 3, 'one mount per layer');
  assert.equal(uploadedBytes(proxy.records.slice(mark)), r.blobs.copied === 1 ? JSON.parse(await skopeoInspect(reg, 'other/cache:x', { raw: true })).config.size : -1, 'only the config uploaded');
});

test('import of a missing ref, a normal image, a corrupt config or over a dead connection: a warning and no cache', async () => {
  const cases: [string, CacheImport, RegExp][] = [];
  cases.push(['a missing tag', fromRegistry('cache/app:nope'), /does not exist/]);
  cases.push(['a missing repository', fromRegistry('nothing/here:1'), /does not exist/]);

  const { image, cleanup } = await makeImage({ seed: 7, layers: 1 });
  try {
    await pushImage(client, ref(proxy.host, 'img/plain:1'), image);
  } finally {
    await cleanup();
  }
  cases.push(['a normal image', fromRegistry('img/plain:1'), /CACHE_INVALID: .*an image/]);

  const bad = Buffer.from('{"version":1,"entries":{"abc":{}}}');
  const badConfig = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha(bad) as never, size: bad.length };
  await client.pushBlob(ref(proxy.host, 'cache/bad'), badConfig, () => Readable.from([bad]));
  await client.pushBlob(ref(proxy.host, 'cache/bad'), { ...EMPTY_DESCRIPTOR }, () => Readable.from([Buffer.from('{}')]));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: CACHE_ARTIFACT_TYPE, config: badConfig, layers: [{ ...EMPTY_DESCRIPTOR }] }));
  await client.putManifest(ref(proxy.host, 'cache/bad:1'), manifest, 'application/vnd.oci.image.manifest.v1+json');
  cases.push(['a corrupt config', fromRegistry('cache/bad:1'), /CACHE_INVALID: .*not a cache key/]);

  for (const [what, source, pattern] of cases) {
    const { cache, warnings } = await quietImport(source);
    assert.equal(cache, undefined, what);
    assert.equal(warnings.length, 1, what);
    assert.match(warnings[0]!, pattern, what);
  }

  proxy.setRule(() => ({ hangUp: true }));
  try {
    const { cache, warnings } = await quietImport(fromRegistry('cache/app:v1'));
    assert.equal(cache, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /is not used/);
  } finally {
    proxy.setRule(undefined);
  }

  const aborted = new AbortController();
  aborted.abort(new Error('cancelled'));
  await assert.rejects(importCache(fromRegistry('cache/app:v1'), { client, signal: aborted.signal, warn: () => assert.fail('no warning for an abort') }));
});

test('a layer blob gone from the registry drops the entries that need it, with a warning', async () => {
  await exportCache(toRegistry('cache/gone:1'), entries, { client, store });
  const victim = entries.get(key(2))!.layer!.descriptor.digest;
  const del = await fetch(`${reg.url}/v2/cache/gone/blobs/${victim}`, { method: 'DELETE' });
  assert.equal(del.status, 202);
  const { cache, warnings } = await quietImport(fromRegistry('cache/gone:1'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /lacks 1 of its 3 layer blob/);
  assert.ok(cache);
  assert.deepEqual([...cache.entries.keys()].sort(), [...expected().keys()].filter((k) => k !== key(2)).sort());
  assert.equal(cache.layers.has(victim), false);
});

test('three exporters to one tag at once: all succeed, the tag names one whole cache', async () => {
  const variants = [1, 2, 3].map((n) => new Map([...entries].filter(([k]) => cacheKeyHex(k) !== key(n))));
  const results = await Promise.all(variants.map((v) => exportCache(toRegistry('cache/race:1'), v, { client, store })));
  const raw = await skopeoInspect(reg, 'cache/race:1', { raw: true });
  const winner = results.findIndex((r) => r.manifest.digest === sha(raw));
  assert.ok(winner >= 0, 'the tag names one of the three manifests');
  const { cache, warnings } = await quietImport(fromRegistry('cache/race:1'));
  assert.deepEqual(warnings, []);
  assert.deepEqual(cache?.entries, new Map([...variants[winner]!].map(([k, v]) => [cacheKeyHex(k), v])));
});

test('type=local: export to an OCI layout, read it back; skopeo reads the artifact; several tags, concurrent writers', async () => {
  const dir = join(root, 'layout');
  const target = parseCacheTo([`type=local,dest=${dir},mode=max`])[0]!;
  const r = await exportCache(target, entries, { client: undefined, store });
  assert.deepEqual(r.blobs, { present: 0, mounted: 0, copied: 4 });
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'latest');
  assert.equal(index.manifests[0].artifactType, CACHE_ARTIFACT_TYPE);
  assert.equal(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8')).imageLayoutVersion, '1.0.0');
  const raw = (await execFileP('skopeo', ['inspect', '--raw', `oci:${dir}:latest`], { encoding: 'buffer' })).stdout;
  assert.equal(sha(raw), r.manifest.digest, 'skopeo reads the manifest kiln wrote');
  const m = JSON.parse(raw.toString('utf8'));
  for (const d of [...m.layers, m.config] as { digest: string; size: number }[]) {
    const bytes = readFileSync(join(dir, 'blobs', 'sha256', d.digest.slice(7)));
    assert.equal(sha(bytes), d.digest);
    assert.equal(bytes.length, d.size);
  }

  const { cache, warnings } = await quietImport(parseCacheFrom([`type=local,src=${dir}`])[0]!);
  assert.deepEqual(warnings, []);
  assert.deepEqual(cache?.entries, expected());
  for (const l of cache!.layers.values()) {
    assert.deepEqual(l.from, { kind: 'layout', dir });
    assert.equal(sha(await readAll(await openCacheLayer(l, {}))), l.descriptor.digest);
  }
  const byDigest = await quietImport(parseCacheFrom([`type=local,src=${dir},digest=${r.manifest.digest}`])[0]!);
  assert.equal(byDigest.cache?.entries.size, entries.size);

  // four writers at once, each its own tag: every tag ends up in index.json (the index update is locked)
  const subsets = [1, 2, 3, 4].map((n) => new Map([...entries].filter(([k]) => cacheKeyHex(k) !== key(n))));
  const done = await Promise.all(subsets.map((s, i) => exportCache(parseCacheTo([`type=local,dest=${dir},tag=t${i}`])[0]!, s, { store })));
  const names = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests.map((d: { annotations: Record<string, string> }) => d.annotations['org.opencontainers.image.ref.name']).sort();
  assert.deepEqual(names, ['latest', 't0', 't1', 't2', 't3']);
  for (const [i, d] of done.entries()) {
    assert.equal(d.blobs.copied, 1, 'only the config is new: the layers are shared');
    const got = await quietImport(parseCacheFrom([`type=local,src=${dir},tag=t${i}`])[0]!);
    assert.equal(got.cache?.entries.size, entries.size - 1);
  }

  // a standard tool copies the layout's cache into the registry, and kiln imports it from there
  const pushed = await skopeoCopy(`oci:${dir}:latest`, `docker://${reg.host}/cache/from-layout:1`, { registry: reg });
  assert.equal(pushed.digest, r.manifest.digest, 'skopeo copies the artifact unchanged');
  const copied = await quietImport(fromRegistry('cache/from-layout:1'));
  assert.deepEqual(copied.warnings, []);
  assert.deepEqual(copied.cache?.entries, expected());
});

test('type=local: missing or damaged caches warn; a folder that is not a layout is not written', async () => {
  const dir = join(root, 'layout2');
  await exportCache(parseCacheTo([`type=local,dest=${dir}`])[0]!, entries, { store });
  const from = (extra = ''): CacheImport => parseCacheFrom([`type=local,src=${dir}${extra}`])[0]!;

  const cases: [string, CacheImport, RegExp][] = [
    ['a missing folder', parseCacheFrom([`type=local,src=${join(root, 'nowhere')}`])[0]!, /does not exist/],
    ['a missing tag', from(',tag=other'), /has no manifest named "other"/],
    ['a missing digest', from(`,digest=sha256:${'0'.repeat(64)}`), /lists no manifest/],
  ];
  for (const [what, source, pattern] of cases) {
    const { cache, warnings } = await quietImport(source);
    assert.equal(cache, undefined, what);
    assert.match(warnings.join('\n'), pattern, what);
  }

  // a layer blob deleted: its entries are dropped
  const victim = entries.get(key(5))!.layer!.descriptor.digest;
  rmSync(join(dir, 'blobs', 'sha256', victim.slice(7)));
  const partial = await quietImport(from());
  assert.match(partial.warnings.join('\n'), /lacks 1 of its 3 layer blob/);
  assert.equal(partial.cache?.entries.has(key(5)), false);
  assert.equal(partial.cache?.entries.size, entries.size - 1);

  // the config blob's bytes replaced: the digest check refuses it
  const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests[0].digest.slice(7)), 'utf8'));
  const configFile = join(dir, 'blobs', 'sha256', m.config.digest.slice(7));
  rmSync(configFile);
  writeFileSync(configFile, '{"version":1,"entries":{}}');
  const corrupt = await quietImport(from());
  assert.equal(corrupt.cache, undefined);
  assert.match(corrupt.warnings.join('\n'), /is not used: .*(DIGEST_MISMATCH|hashes to)/);

  writeFileSync(join(dir, 'index.json'), '{not json');
  const badIndex = await quietImport(from());
  assert.equal(badIndex.cache, undefined);
  assert.match(badIndex.warnings.join('\n'), /LAYOUT_INVALID/);

  const other = join(root, 'not-a-layout');
  mkdirSync(other);
  writeFileSync(join(other, 'notes.txt'), 'mine');
  await assert.rejects(exportCache(parseCacheTo([`type=local,dest=${other}`])[0]!, entries, { store }), (err: Error & { code?: string }) => err.code === 'CACHE_EXPORT_FAILED');
  assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'mine');
});
