/**
 * storeResolver, the executor's ImageResolver over a real registry (behind
 * the counting proxy): the platform's image out of an index, blobs fetched
 * once, the local store's image when the registry is gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Layer } from '../../lib/image/index.ts';
import { parseRef } from '../../lib/ref/index.ts';
import { RegistryClient } from '../../lib/registry/index.ts';
import { LocalStore, copyImage, storeResolver } from '../../lib/transport/index.ts';
import { type PushedIndex, pushIndex } from '../helpers/registry-images.ts';
import { freePort, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { type FaultProxy, startFaultProxy } from '../registry/fault-proxy.ts';
import { tempRoot } from './transport-kit.ts';

let root: { dir: string; cleanup: () => Promise<void> };
let reg: RunningRegistry;
let proxy: FaultProxy;
let multi: PushedIndex;
let byArch: Map<string, string>;
const client = new RegistryClient({ retry: { attempts: 1 } });

before(async () => {
  root = await tempRoot('kiln-resolver-');
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  multi = await pushIndex(reg, 'base/multi:1', { seed: 71, layers: 2 });
  const index = JSON.parse(await skopeoInspect(reg, 'base/multi:1', { raw: true })) as { manifests: { digest: string; platform: { architecture: string } }[] };
  byArch = new Map(index.manifests.map((d) => [d.platform.architecture, d.digest]));
});
after(async () => {
  await client.close();
  await proxy?.stop();
  await reg?.stop();
  await root.cleanup();
});

const blobPath = (home: string, digest: string): string => join(home, 'blobs', 'sha256', digest.slice(7));

describe('storeResolver', () => {
  test('resolves each platform of an index, fetching each blob once and each layer only when opened, tagging nothing', async () => {
    const home = join(root.dir, 'home');
    const resolver = storeResolver({ client, home });
    const ref = parseRef(`${proxy.host}/base/multi:1`);
    const blobGets = (): string[] => proxy.records.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)).map((r) => r.path.replace(/.*\/blobs\//, ''));
    const start = blobGets().length;
    const arm = await resolver.resolve(ref, { os: 'linux', architecture: 'arm64' });
    assert.equal(arm.descriptor.digest, byArch.get('arm64'));
    assert.deepEqual(blobGets().slice(start), [JSON.parse(arm.manifestBytes.toString()).config.digest], 'resolving reads the config, no layer');
    const amd = await resolver.resolve(ref, { os: 'linux', architecture: 'amd64' });
    assert.equal(amd.descriptor.digest, byArch.get('amd64'));
    // Every layer reads back and decompresses to its diffID (hashed here), fetched on its first open only.
    for (const round of [1, 2]) {
      const mark = blobGets().length;
      for (const layer of arm.layers) {
        const hash = createHash('sha256');
        for await (const chunk of await layer.openUncompressed()) hash.update(chunk as Buffer);
        assert.equal(`sha256:${hash.digest('hex')}`, layer.diffId);
      }
      assert.deepEqual(new Set(blobGets().slice(mark)), new Set(round === 1 ? arm.layers.map((l) => l.descriptor.digest) : []), `round ${round}`);
    }
    const mark = blobGets().length;
    const again = await resolver.resolve(ref, { os: 'linux', architecture: 'arm64' });
    assert.equal(again.descriptor.digest, byArch.get('arm64'));
    assert.deepEqual(blobGets().slice(mark), [], 'a resolved image is read from the store again, but its manifest');
    assert.deepEqual(await new LocalStore(home).list(), [], 'base images are not tagged');
    assert.equal(multi.images.length, 2);
  });

  test('the first read of a layer streams it as it downloads: stored whole, once, for every reader', async () => {
    const home = join(root.dir, 'streaming');
    const resolver = storeResolver({ client, home });
    const image = await resolver.resolve(parseRef(`${proxy.host}/base/multi:1`), { os: 'linux', architecture: 'amd64' });
    const gets = (digest: string): number => proxy.records.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;
    const hashOf = async (stream: AsyncIterable<unknown>): Promise<{ digest: string; size: number }> => {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      return { digest: `sha256:${hash.digest('hex')}`, size };
    };
    const [bottom, top] = image.layers as [Layer, Layer];
    // A reader that stops early cancels the download: the store holds nothing, or (when the
    // small blob had already arrived whole) the verified blob; a later read fetches only what is missing.
    const before = gets(bottom.descriptor.digest);
    const first = await bottom.openUncompressed();
    await new Promise<void>((resolve) => first.once('readable', resolve));
    first.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const kept = existsSync(blobPath(home, bottom.descriptor.digest));
    if (kept) assert.equal(createHash('sha256').update(readFileSync(blobPath(home, bottom.descriptor.digest))).digest('hex'), bottom.descriptor.digest.slice(7));
    // Two readers at once: one download; both get the tar, which matches the diffID.
    const [a, b] = await Promise.all([bottom.openUncompressed().then(hashOf), bottom.openUncompressed().then(hashOf)]);
    assert.equal(a.digest, bottom.diffId);
    assert.deepEqual(b, a);
    assert.equal(gets(bottom.descriptor.digest) - before, kept ? 1 : 2, 'one GET for the cancelled read, one more for both readers when nothing was kept');
    if (!kept) assert.equal(bottom.uncompressedSize, a.size, 'the size is learnt from the streamed read');
    assert.equal(createHash('sha256').update(readFileSync(blobPath(home, bottom.descriptor.digest))).digest('hex'), bottom.descriptor.digest.slice(7));
    // The compressed blob, opened first, is fetched into the store and read from there.
    const t = await hashOf(await top.open());
    assert.equal(t.digest, top.descriptor.digest);
    assert.equal((await hashOf(await top.openUncompressed())).digest, top.diffId);
    assert.equal(gets(top.descriptor.digest), 1);
  });

  test('falls back to the local store when the registry cannot be reached', async () => {
    const home = join(root.dir, 'offline');
    const gone = `127.0.0.1:${await freePort()}`;
    await copyImage({ kind: 'registry', ref: parseRef(`${reg.host}/base/multi:1`) }, { kind: 'local', name: `${gone}/base/multi:1` }, {
      client, home, platform: { kind: 'platform', platform: { os: 'linux', architecture: 'arm64' } },
    });
    const resolver = storeResolver({ client, home });
    const image = await resolver.resolve(parseRef(`${gone}/base/multi:1`), { os: 'linux', architecture: 'arm64' });
    assert.equal(image.descriptor.digest, byArch.get('arm64'));
    await assert.rejects(resolver.resolve(parseRef(`${gone}/base/multi:1`), { os: 'linux', architecture: 'amd64' }), { code: 'REGISTRY_UNREACHABLE' });
  });
});
