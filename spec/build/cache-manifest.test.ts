/**
 * The registry cache's format v1 (lib/build/cache-manifest.ts): encode →
 * parse round trips of hand-made entries, digests checked with node:crypto
 * over the bytes, the entries' JSON compared with the files the local cache
 * writes, and every kind of malformed cache refused with CACHE_INVALID (never
 * a TypeError or RangeError), including random byte mutations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheError } from '../../lib/build/build-error.ts';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, EMPTY_DESCRIPTOR, cacheKeyHex, encodeCache, parseCache } from '../../lib/build/cache-manifest.ts';
import { parseDigest } from '../../lib/digest/index.ts';
import { type CacheEntry, StepCache } from '../../lib/executor/cache-store.ts';
import { MAX_JSON_BLOB } from '../../lib/image/index.ts';
import { MAX_MANIFEST_BYTES } from '../../lib/registry/index.ts';
import { prng } from '../helpers/random-image.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-manifest-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');
const digestOf = (s: string | Uint8Array): string => `sha256:${hex(s)}`;
const key = (n: number): string => hex(`key ${n}`);

function layer(n: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): CacheEntry['layer'] {
  return { descriptor: { mediaType, digest: parseDigest(digestOf(`layer ${n}`)), size: 1000 + n }, diffId: parseDigest(digestOf(`diff ${n}`)), uncompressedSize: 5000 + n };
}

const platform = { architecture: 'amd64', os: 'linux' };
const fsEntry = (n: number): CacheEntry => ({
  layer: layer(n),
  history: { created: '2024-01-02T03:04:05Z', created_by: `RUN make ${n} # buildkit` },
  config: { ...platform, config: { Env: ['PATH=/usr/bin:/bin', `N=${n}`], WorkingDir: '/src', Labels: { 'dev.kiln.n': String(n) } } },
  args: new Map<string, string | undefined>([['VERSION', '1.2'], ['UNSET', undefined]]),
  replay: n % 2 === 0 ? digestOf(`inputs ${n}`) : undefined,
});
const metaEntry: CacheEntry = {
  layer: undefined,
  history: { created: '2024-01-02T03:04:05Z', created_by: 'ENV A=b', empty_layer: true },
  config: { ...platform, config: { Env: ['A=b'], Cmd: ['sh'] } },
  args: new Map(),
  replay: undefined,
};
const onbuildEntry: CacheEntry = { layer: undefined, history: undefined, config: { ...platform, config: { OnBuild: ['RUN echo hi'] } }, args: new Map(), replay: undefined };
const sharedLayer: CacheEntry = { ...fsEntry(1), history: { created: '2024-01-02T03:04:06Z', created_by: 'COPY . . # the same layer again' } };

function sample(): Map<string, CacheEntry> {
  return new Map([
    [key(1), fsEntry(1)],
    [`sha256:${key(2)}`, fsEntry(2)], // the executor's form of a key
    [key(3), metaEntry],
    [key(4), onbuildEntry],
    [key(5), sharedLayer],
    [key(6), fsEntry(6)],
  ]);
}

const byHex = (m: ReadonlyMap<string, CacheEntry>): Map<string, CacheEntry> => new Map([...m].map(([k, v]) => [cacheKeyHex(k), v]));

test('encode → parse gives back the entries (with and without layers, ONBUILD without history)', () => {
  const entries = sample();
  const enc = encodeCache(entries, { mode: 'max' });
  const back = parseCache(enc.manifest, enc.config);
  assert.deepEqual(back, byHex(entries));
  assert.equal(back.get(key(4))!.history, undefined);
  assert.equal(back.get(key(3))!.layer, undefined);
  assert.equal(back.get(key(2))!.replay, digestOf('inputs 2'));
  assert.equal(back.get(key(1))!.args.get('UNSET'), undefined);
  assert.ok(back.get(key(1))!.args.has('UNSET'));
});

test('the manifest: an OCI image manifest of our artifact type, the config named by its real digest, the distinct layers sorted', () => {
  const enc = encodeCache(sample());
  const m = JSON.parse(enc.manifest.toString('utf8'));
  assert.equal(m.schemaVersion, 2);
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(m.artifactType, CACHE_ARTIFACT_TYPE);
  assert.deepEqual(m.config, { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: digestOf(enc.config), size: enc.config.length });
  const want = [1, 2, 6].map((n) => layer(n)!.descriptor).sort((a, b) => (a.digest < b.digest ? -1 : 1));
  assert.deepEqual(m.layers, want, 'layer 1 (named twice) listed once');
  assert.equal(enc.manifestDescriptor.digest, digestOf(enc.manifest));
  assert.equal(enc.manifestDescriptor.size, enc.manifest.length);
  const c = JSON.parse(enc.config.toString('utf8'));
  assert.equal(c.version, 1);
  assert.equal(c.mode, undefined);
  assert.deepEqual(Object.keys(c.entries).sort(), [1, 2, 3, 4, 5, 6].map(key).sort());
});

test("each entry in the config is the JSON the local cache writes for it", async () => {
  const steps = new StepCache(join(tmp, 'local'));
  const entries = sample();
  for (const [k, e] of entries) await steps.put(k, e);
  const c = JSON.parse(encodeCache(entries).config.toString('utf8'));
  for (const k of entries.keys()) {
    const file = JSON.parse(readFileSync(join(tmp, 'local', 'steps', `${cacheKeyHex(k)}.json`), 'utf8'));
    assert.deepEqual(c.entries[cacheKeyHex(k)], file);
  }
});

test('the same entries in another order give the same bytes and digest', () => {
  const a = sample();
  const b = new Map([...a].reverse());
  const ea = encodeCache(a);
  const eb = encodeCache(b);
  assert.equal(hex(ea.manifest), hex(eb.manifest));
  assert.ok(ea.config.equals(eb.config));
  const other = new Map(a);
  other.set(key(9), fsEntry(9));
  assert.notEqual(hex(encodeCache(other).manifest), hex(ea.manifest), 'different entries, different digest');
});

test('a cache without layers lists the OCI empty descriptor; an empty cache round-trips', () => {
  const enc = encodeCache(new Map([[key(3), metaEntry], [key(4), onbuildEntry]]));
  const m = JSON.parse(enc.manifest.toString('utf8'));
  assert.deepEqual(m.layers, [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}'), size: 2 }]);
  assert.equal(EMPTY_DESCRIPTOR.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', 'image-spec manifest.md');
  assert.equal(parseCache(enc.manifest, enc.config).size, 2);
  const empty = encodeCache(new Map());
  assert.deepEqual(parseCache(empty.manifest, empty.config), new Map());
});

test('bad keys and oversized caches are refused when encoding', () => {
  assertCode(() => encodeCache(new Map([['nothex', metaEntry]])), 'CACHE_INVALID');
  assertCode(() => encodeCache(new Map([[key(1).toUpperCase(), metaEntry]])), 'CACHE_INVALID');
  assertCode(() => encodeCache(new Map([[key(1), metaEntry], [`sha256:${key(1)}`, metaEntry]])), 'CACHE_INVALID');
  const liar: CacheEntry = { ...fsEntry(1), layer: { ...layer(1)!, descriptor: { ...layer(1)!.descriptor, size: 1 } } };
  assertCode(() => encodeCache(new Map([[key(1), fsEntry(1)], [key(2), liar]])), 'CACHE_INVALID', 'one digest, two sizes');
  assertCode(() => encodeCache(new Map([[key(1), { ...fsEntry(1), layer: layer(1, 'text/plain') }]])), 'CACHE_INVALID', 'a layer of no layer type');
  const sha512: CacheEntry = { ...fsEntry(1), layer: { ...layer(1)!, descriptor: { ...layer(1)!.descriptor, digest: parseDigest(`sha512:${'a'.repeat(128)}`) } } };
  assertCode(() => encodeCache(new Map([[key(1), sha512]])), 'CACHE_INVALID', 'a layer not named by sha256');
  const huge: CacheEntry = { ...metaEntry, config: { ...platform, config: { Labels: { big: 'x'.repeat(MAX_JSON_BLOB) } } } };
  assertCode(() => encodeCache(new Map([[key(1), huge]])), 'CACHE_TOO_LARGE');
});

function assertCode(fn: () => unknown, code: string, what = code): CacheError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CacheError, `${what}: expected a CacheError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, code, `${what}: ${caught.message}`);
  return caught;
}

/** A manifest naming `config` (its real digest) and `layers` (default: the sample's). */
function manifestFor(config: Buffer, overrides: Record<string, unknown> = {}): Buffer {
  const base = JSON.parse(encodeCache(sample()).manifest.toString('utf8'));
  return Buffer.from(JSON.stringify({ ...base, config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: digestOf(config), size: config.length }, ...overrides }));
}

/** Parses a config document given as a value, with a manifest that names it and the sample's layers. */
function parseConfig(doc: unknown, overrides: Record<string, unknown> = {}): Map<string, CacheEntry> {
  const config = Buffer.isBuffer(doc) ? doc : Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
  return parseCache(manifestFor(config, overrides), config);
}

const good = (): { version: number; entries: Record<string, unknown> } => JSON.parse(encodeCache(sample()).config.toString('utf8'));

test('malformed manifests are CACHE_INVALID', () => {
  const { manifest, config } = encodeCache(sample());
  const m = JSON.parse(manifest.toString('utf8'));
  const cases: [string, Buffer][] = [
    ['not JSON', Buffer.from('{"schemaVersion":2,')],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['a JSON array', Buffer.from('[]')],
    ['an image manifest', Buffer.from(JSON.stringify({ ...m, artifactType: undefined, config: { ...m.config, mediaType: 'application/vnd.oci.image.config.v1+json' } }))],
    ['another artifact', Buffer.from(JSON.stringify({ ...m, artifactType: 'application/vnd.example.sbom' }))],
    ['format version 2', Buffer.from(JSON.stringify({ ...m, artifactType: 'application/vnd.kiln.build-cache.v2' }))],
    ['a Docker manifest', Buffer.from(JSON.stringify({ ...m, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }))],
    ['no media type', Buffer.from(JSON.stringify({ ...m, mediaType: undefined }))],
    ['another config type', Buffer.from(JSON.stringify({ ...m, config: { ...m.config, mediaType: 'application/vnd.kiln.build-cache.config.v2+json' } }))],
    ['a config above the cap', Buffer.from(JSON.stringify({ ...m, config: { ...m.config, size: MAX_JSON_BLOB + 1 } }))],
    ['a layer listed twice', Buffer.from(JSON.stringify({ ...m, layers: [...m.layers, m.layers[0]] }))],
    ['a layer no entry names', Buffer.from(JSON.stringify({ ...m, layers: [...m.layers, layer(7)!.descriptor] }))],
    ['a layer that is not a layer type', Buffer.from(JSON.stringify({ ...m, layers: [...m.layers, { ...layer(7)!.descriptor, mediaType: 'text/plain' }] }))],
    ['a layer missing', Buffer.from(JSON.stringify({ ...m, layers: m.layers.slice(1) }))],
    ['a layer of another size', Buffer.from(JSON.stringify({ ...m, layers: [{ ...m.layers[0], size: m.layers[0].size + 1 }, ...m.layers.slice(1)] }))],
    ['a bad digest', Buffer.from(JSON.stringify({ ...m, layers: [{ ...m.layers[0], digest: 'sha256:abc' }, ...m.layers.slice(1)] }))],
    ['a digest not sha256', Buffer.from(JSON.stringify({ ...m, layers: [...m.layers, { ...m.layers[0], digest: `sha512:${'a'.repeat(128)}` }] }))],
    ['too big', Buffer.concat([manifest.subarray(0, -1), Buffer.from(`,"annotations":{"pad":"${'x'.repeat(MAX_MANIFEST_BYTES)}"}}`)])],
  ];
  for (const [what, bytes] of cases) {
    const err = assertCode(() => parseCache(bytes, config), 'CACHE_INVALID', what);
    if (what === 'format version 2') assert.match(err.message, /format version 2; this kiln reads version 1/);
    if (what === 'an image manifest') assert.match(err.message, /an image/);
  }
  assertCode(() => parseCache(manifest, Buffer.concat([config, Buffer.from(' ')])), 'CACHE_INVALID', 'a config that is not the one named');
});

test('malformed configs are CACHE_INVALID', () => {
  const g = good();
  const k1 = key(1);
  const e1 = g.entries[k1] as Record<string, unknown>;
  const withEntry = (k: string, v: unknown) => ({ ...g, entries: { ...g.entries, [k]: v } });
  const deep = `{"version":1,"entries":{"${k1}":{"format":"kiln.cache.step.v1","args":[],"config":{"architecture":"amd64","os":"linux","config":{"Labels":${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}}}}}}`;
  const cases: [string, unknown][] = [
    ['not JSON', '{"version":1,"entries":{'],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])],
    ['an array', '[]'],
    ['null', 'null'],
    ['unknown version', { ...g, version: 2 }],
    ['version as a string', { ...g, version: '1' }],
    ['no version', { entries: g.entries }],
    ['no entries', { version: 1 }],
    ['entries as an array', { version: 1, entries: [] }],
    ['a bad mode', { ...g, mode: 'all' }],
    ['a short key', withEntry('abc', e1)],
    ['an upper-case key', withEntry(k1.toUpperCase(), e1)],
    ['a sha256: key', withEntry(`sha256:${key(8)}`, e1)],
    ['a __proto__ key', `{"version":1,"entries":{"__proto__":${JSON.stringify(e1)}}}`],
    ['an entry that is a string', withEntry(k1, 'entry')],
    ['an entry of another format', withEntry(k1, { ...e1, format: 'kiln.cache.step.v2' })],
    ['an entry whose config is a string', withEntry(k1, { ...e1, config: 'amd64' })],
    ['an entry whose config is an array', withEntry(k1, { ...e1, config: [1] })],
    ['an entry without a platform', withEntry(k1, { ...e1, config: { config: {} } })],
    ['an entry with bad args', withEntry(k1, { ...e1, args: [['A', 1]] })],
    ['an entry with a bad Env', withEntry(k1, { ...e1, config: { ...platform, config: { Env: ['no equals sign'] } } })],
    ['a layer with a bad digest', withEntry(k1, { ...e1, layer: { ...(e1['layer'] as object), digest: 'sha256:xyz' } })],
    ['a layer with a digest not sha256', withEntry(k1, { ...e1, layer: { ...(e1['layer'] as object), digest: `sha512:${'a'.repeat(128)}` } })],
    ['a layer without history', withEntry(k1, { ...e1, history: undefined })],
    ['a layer that is null', withEntry(k1, { ...e1, layer: null })],
    ['a layer that is not a layer type', withEntry(k1, { ...e1, layer: { ...(e1['layer'] as object), mediaType: 'text/plain' } })],
    ['a layer the manifest does not list', withEntry(key(7), { ...e1, layer: { ...(e1['layer'] as object), digest: layer(7)!.descriptor.digest } })],
    ['a layer listed with another size', withEntry(k1, { ...e1, layer: { ...(e1['layer'] as object), size: 1 } })],
    ['a config nested 5000 deep', deep],
    ['a number beyond a double', JSON.stringify(withEntry(k1, { ...e1, config: { ...platform, config: { Healthcheck: { Interval: '__N__' } } } })).replace('"__N__"', '1e400')],
  ];
  for (const [what, doc] of cases) assertCode(() => parseConfig(doc), 'CACHE_INVALID', what);
  assertCode(() => parseConfig('x'.repeat(MAX_JSON_BLOB + 1)), 'CACHE_INVALID', 'a config above the cap');
  // Sanity: the helper accepts the good document, so the cases above fail for their own reason.
  assert.equal(parseConfig(g).size, 6);
});

test('random byte mutations of a valid cache parse or fail with CACHE_INVALID, nothing else', () => {
  const { manifest, config } = encodeCache(sample(), { mode: 'min' });
  const rand = prng(20261128);
  let refused = 0;
  for (let i = 0; i < 400; i++) {
    const target = Buffer.from(i % 4 === 0 ? manifest : config);
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) target[Math.floor(rand() * target.length)] = Math.floor(rand() * 256);
    const m = i % 4 === 0 ? target : manifest;
    // A mutated config is paired with a manifest naming it, so the config's own checks run.
    const c = i % 4 === 0 ? config : target;
    const mm = i % 4 === 0 ? m : manifestFor(c);
    try {
      parseCache(mm, c);
    } catch (err) {
      assert.ok(err instanceof CacheError && err.code === 'CACHE_INVALID', `mutation ${i}: ${String(err)}`);
      refused++;
    }
  }
  assert.ok(refused > 200, `most mutations are refused (${refused})`);
});
