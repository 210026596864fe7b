/**
 * Mirrors: reads of a registry go to its mirrors first and to the registry
 * when a mirror does not have the content (or is down); writes always go to
 * the registry. Two real registries, each behind a counting proxy.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseMirrors, type RegistryEvent } from '../../lib/registry/index.ts';
import { freePort, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type PushedImage, pushRandomImage } from '../helpers/registry-images.ts';
import { clientFor, randomBytesSeeded, rawDescriptor, readAll, ref } from './client-kit.ts';
import { type FaultProxy, apiRecords, startFaultProxy } from './fault-proxy.ts';

let origin: RunningRegistry;
let mirror: RunningRegistry;
let originProxy: FaultProxy;
let mirrorProxy: FaultProxy;
let both: PushedImage;
let originOnly: PushedImage;

before(async () => {
  [origin, mirror] = await Promise.all([startRegistry({ mode: 'open' }), startRegistry({ mode: 'open' })]);
  originProxy = await startFaultProxy(origin.url);
  mirrorProxy = await startFaultProxy(mirror.url);
  both = await pushRandomImage(origin, 'lib/both:v1', { seed: 81, layers: 2 });
  await pushRandomImage(mirror, 'lib/both:v1', { seed: 81, layers: 2 });
  originOnly = await pushRandomImage(origin, 'lib/origin-only:v1', { seed: 82 });
});
after(async () => {
  await originProxy?.stop();
  await mirrorProxy?.stop();
  await origin?.stop();
  await mirror?.stop();
});

function client(mirrors: string, events: RegistryEvent[] = []) {
  return clientFor({ ...origin, host: originProxy.host } as RunningRegistry, { mirrors: parseMirrors(mirrors), onEvent: (e) => events.push(e) });
}

function reset(): void {
  originProxy.records.length = 0;
  mirrorProxy.records.length = 0;
}

test('content the mirror has is read from the mirror only', async () => {
  const c = client(`${originProxy.host}=${mirrorProxy.url}`);
  reset();
  try {
    const m = await c.getManifest(ref(originProxy.host, 'lib/both:v1'));
    assert.equal(m.digest, both.pushedDigest);
    const manifest = JSON.parse(m.bytes.toString('utf8')) as { layers: { digest: never; size: number; mediaType: string }[] };
    for (const l of manifest.layers) await readAll(await c.openBlob(ref(originProxy.host, 'lib/both'), l));
  } finally {
    await c.close();
  }
  assert.equal(apiRecords(originProxy.records).length, 0, 'the origin saw nothing');
  assert.deepEqual(apiRecords(mirrorProxy.records).map((r) => `${r.method} ${r.path.split('/')[4]}`), ['GET manifests', 'GET blobs', 'GET blobs']);
});

test('content the mirror lacks comes from the origin after the mirror\'s 404', async () => {
  const events: RegistryEvent[] = [];
  const c = client(`${originProxy.host}=${mirrorProxy.url}`, events);
  reset();
  try {
    const m = await c.getManifest(ref(originProxy.host, 'lib/origin-only:v1'));
    assert.equal(m.digest, originOnly.pushedDigest);
  } finally {
    await c.close();
  }
  assert.deepEqual(apiRecords(mirrorProxy.records).map((r) => r.status), [404]);
  assert.deepEqual(apiRecords(originProxy.records).map((r) => r.status), [200]);
  assert.deepEqual(events.map((e) => [e.kind, (e as { code: string }).code]), [['mirror-fallback', 'MANIFEST_UNKNOWN']]);
});

test('a mirror that is down is skipped; the next mirror, then the origin, serve', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const events: RegistryEvent[] = [];
  const c = client(`${originProxy.host}=${dead},${originProxy.host}=${mirrorProxy.url}`, events);
  reset();
  try {
    assert.equal((await c.getManifest(ref(originProxy.host, 'lib/both:v1'))).digest, both.pushedDigest);
    assert.equal(apiRecords(mirrorProxy.records).length, 1);
    assert.equal(events[0]?.kind, 'mirror-fallback');
    assert.equal((events[0] as { code: string }).code, 'REGISTRY_UNREACHABLE');
  } finally {
    await c.close();
  }
});

test('writes go to the origin, never to a mirror', async () => {
  const c = client(`${originProxy.host}=${mirrorProxy.url}`);
  reset();
  const bytes = randomBytesSeeded(2000, 83);
  try {
    assert.equal(await c.pushBlob(ref(originProxy.host, 'lib/pushed'), rawDescriptor(bytes), () => Readable.from([bytes])), 'uploaded');
    const m = await c.getManifest(ref(originProxy.host, 'lib/origin-only:v1'));
    reset();
    await c.putManifest(ref(originProxy.host, 'lib/origin-only:v2'), m.bytes, m.mediaType);
    assert.equal(await c.blobExists(ref(originProxy.host, 'lib/pushed'), rawDescriptor(bytes).digest), true);
  } finally {
    await c.close();
  }
  assert.equal(apiRecords(mirrorProxy.records).length, 0);
  assert.deepEqual(apiRecords(originProxy.records).map((r) => r.method), ['PUT', 'HEAD']);
});

test('mirrors of another registry are not used', async () => {
  const c = client(`docker.io=${mirrorProxy.url}`);
  reset();
  try {
    assert.equal((await c.getManifest(ref(originProxy.host, 'lib/both:v1'))).digest, both.pushedDigest);
  } finally {
    await c.close();
  }
  assert.equal(mirrorProxy.records.length, 0);
});

test('a failing mirror is probed once, not on every read', async () => {
  const broken = await startFaultProxy(mirror.url, () => ({ respond: { status: 503 } }));
  const events: RegistryEvent[] = [];
  const c = client(`${originProxy.host}=${broken.url}`, events);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await c.getManifest(ref(originProxy.host, 'lib/both:v1'))).digest, both.pushedDigest);
  } finally {
    await c.close();
    await broken.stop();
  }
  assert.equal(broken.records.length, 1);
  assert.deepEqual(events.map((e) => (e as { code: string }).code), ['REGISTRY_UNAVAILABLE', 'REGISTRY_UNAVAILABLE', 'REGISTRY_UNAVAILABLE']);
});
