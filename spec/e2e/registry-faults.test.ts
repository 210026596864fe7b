/**
 * Through a counting, fault-injecting proxy in front of a real registry:
 * pushing an image to a second repository sends no layer bytes (mounts);
 * bad answers (a manifest that is not JSON, bytes that do not match their
 * digest, a truncated blob, a 404) and a registry that is down each give one
 * clear error line naming the registry and the reference, a non-zero exit,
 * and nothing half-written in the local store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PushedImage, pushRandomImage, writeRandomImage } from '../helpers/registry-images.ts';
import { freePort, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type FaultProxy, type FaultRule, startFaultProxy } from '../registry/fault-proxy.ts';
import { assertOneError, blobFiles, type KilnUser, kiln, kilnOk, literal, newUser, strayFiles } from './registry-kit.ts';

let work: string;
let reg: RunningRegistry;
let proxy: FaultProxy;
const bad = new Map<string, PushedImage>();

/** Faults by repository, so the tests can run side by side. */
const rule: FaultRule = (req) => {
  const layer = (name: string): boolean => (bad.get(name)?.image.layers ?? []).some((l) => req.path.endsWith(`/blobs/${l.descriptor.digest}`));
  if (req.method === 'GET' && req.path.startsWith('/v2/bad/notjson/manifests/')) return { mutateBody: () => Buffer.from('<html>not a manifest</html>') };
  if (req.method === 'GET' && req.path === '/v2/bad/digest/manifests/v1') return { mutateBody: (b) => Buffer.concat([b, Buffer.from('\n')]) };
  if (req.method === 'GET' && layer('blob')) return { mutateBody: (b) => Buffer.from(b.map((x, i) => (i === 10 ? x ^ 0xff : x))) };
  if (req.method === 'GET' && layer('cut')) return { cutAfter: 100, stripHeaders: ['accept-ranges'] };
  return undefined;
};

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-e2e-faults-'));
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url, rule);
  await pushRandomImage(reg, 'peer/ok:v1', { seed: 41, layers: 1 });
  for (const [i, name] of ['notjson', 'digest', 'blob', 'cut'].entries()) bad.set(name, await pushRandomImage(reg, `bad/${name}:v1`, { seed: 42 + i, layers: 2 }));
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Bytes sent in blob uploads (POST/PATCH/PUT under …/blobs/uploads/) to a repository. */
function uploadedBytes(repo: string): number {
  return proxy.records.filter((r) => r.path.startsWith(`/v2/${repo}/blobs/uploads/`)).reduce((n, r) => n + r.bytesIn, 0);
}

describe('mounts', () => {
  test('pushing the same image to a second repository transfers no layer bytes', async () => {
    const u = newUser(work);
    const layout = await writeRandomImage(join(work, 'mount-layout'), { seed: 49, layers: 3, maxFileSize: 64 * 1024, tag: 'm' });
    const blobBytes = layout.image.configBytes.length + layout.image.layers.reduce((n, l) => n + l.descriptor.size, 0);
    const name = `${proxy.host}/mnt/a:1`;
    await kilnOk(['copy', `oci:${layout.dir}:m`, name], u.env);
    await kilnOk(['push', name], u.env);
    assert.equal(uploadedBytes('mnt/a'), blobBytes, 'the first push uploads every blob once');
    const second = await kilnOk(['push', name, `${proxy.host}/mnt/b:1`], u.env);
    assert.match(second.stderr, /: Mounted/);
    const mounts = proxy.records.filter((r) => r.method === 'POST' && r.path === '/v2/mnt/b/blobs/uploads/' && r.query.get('from') === 'mnt/a');
    assert.equal(mounts.length, 1 + layout.image.layers.length, 'config and layers mounted');
    assert.ok(mounts.every((r) => r.status === 201));
    assert.equal(uploadedBytes('mnt/b'), 0, 'no blob bytes sent');
    // Registry to registry, the same registry: mounted too, and nothing downloaded.
    await kilnOk(['copy', `docker://${name}`, `docker://${proxy.host}/mnt/c:1`], u.env);
    assert.equal(uploadedBytes('mnt/c'), 0);
    const layerGets = proxy.records.filter((r) => r.method === 'GET' && r.path.startsWith('/v2/mnt/a/blobs/') && layout.image.layers.some((l) => r.path.endsWith(l.descriptor.digest)));
    assert.deepEqual(layerGets, []);
  });
});

describe('mirrors', () => {
  test('--registry-mirror is tried first; KILN_REGISTRY_MIRRORS falls back to the origin', async () => {
    const mirror = await startRegistry({ mode: 'open' });
    try {
      const only = await pushRandomImage(mirror, 'mirror/only:1', { seed: 48, layers: 1 });
      const u = newUser(work);
      const r = await kilnOk(['pull', '--registry-mirror', `${proxy.host}=${mirror.url}`, `${proxy.host}/mirror/only:1`], u.env);
      assert.match(r.stdout, new RegExp(`^Digest: ${only.pushedDigest}$`, 'm'));
      assert.deepEqual(proxy.records.filter((x) => x.path.startsWith('/v2/mirror/')), [], 'the origin was not asked');
      const fallback = await kilnOk(['pull', `${proxy.host}/peer/ok:v1`], { ...u.env, KILN_REGISTRY_MIRRORS: `${proxy.host}=${mirror.url}` });
      assert.match(fallback.stderr, literal(`Mirror ${mirror.host} failed (MANIFEST_UNKNOWN)`));
      assert.ok(proxy.records.some((x) => x.method === 'GET' && x.path === '/v2/peer/ok/manifests/v1'), 'the origin answered');
    } finally {
      await mirror.stop();
    }
  });
});

/** One user with one image pulled before the failures; each case fails in a copy of its store, which must stay as it was. */
let victim: { u: KilnUser; index: Buffer; images: string };
const victims: KilnUser[] = [];

function victimCopy(): KilnUser {
  const u = newUser(work, 'victim');
  cpSync(victim.u.home, u.home, { recursive: true });
  victims.push(u);
  return u;
}

describe('bad input leaves one error line and nothing half-written', { concurrency: true }, () => {
  before(async () => {
    const u = newUser(work);
    await kilnOk(['pull', '-q', `${proxy.host}/peer/ok:v1`], u.env);
    victim = { u, index: readFileSync(join(u.home, 'index.json')), images: (await kilnOk(['images', '-q'], u.env)).stdout };
    assert.notEqual(victim.images, '');
  });

  function expectUnchanged(u: KilnUser): void {
    assert.ok(readFileSync(join(u.home, 'index.json')).equals(victim.index), 'index.json unchanged');
    assert.deepEqual(strayFiles(u.home), [], 'no temp files left');
  }

  const cases: { name: string; ref: () => string; code: string; also?: RegExp }[] = [
    { name: 'a manifest that is not JSON', ref: () => `${proxy.host}/bad/notjson:v1`, code: 'MANIFEST_INVALID' },
    { name: 'manifest bytes that do not match their digest', ref: () => `${proxy.host}/bad/digest:v1`, code: 'DIGEST_MISMATCH' },
    { name: 'a 404 for a tag', ref: () => `${proxy.host}/peer/ok:nope`, code: 'MANIFEST_UNKNOWN' },
    { name: 'a blob whose bytes do not match its digest', ref: () => `${proxy.host}/bad/blob:v1`, code: 'DIGEST_MISMATCH', also: /@sha256:/ },
    { name: 'a truncated blob', ref: () => `${proxy.host}/bad/cut:v1`, code: 'BLOB_TRUNCATED', also: /@sha256:/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const ref = c.ref();
      const u = victimCopy();
      const r = await kiln(['pull', ref], u.env);
      const repo = ref.slice(0, ref.lastIndexOf(':'));
      const line = assertOneError(r, c.code, literal(repo), c.also ?? literal(ref));
      assert.ok(line.length < 400, line);
      expectUnchanged(u);
      const image = bad.get(ref.split('/')[2]!.split(':')[0]!);
      if (c.code === 'DIGEST_MISMATCH' && image !== undefined && c.also !== undefined) {
        const stored = blobFiles(u.home);
        for (const l of image.image.layers) assert.equal(stored.has(l.descriptor.digest), false, 'the corrupt blob is not stored');
      }
    });
  }

  test('a registry that is down', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const u = victimCopy();
    const r = await kiln(['pull', `${host}/peer/ok:v1`], u.env);
    assertOneError(r, 'REGISTRY_UNREACHABLE', literal(`${host}/peer/ok:v1`));
    expectUnchanged(u);
  });
});

describe('after the failures', () => {
  test('kiln images lists what it listed before', async () => {
    assert.equal(victims.length, 6);
    for (const r of await Promise.all(victims.map((u) => kilnOk(['images', '-q'], u.env)))) assert.equal(r.stdout, victim.images);
  });
});
