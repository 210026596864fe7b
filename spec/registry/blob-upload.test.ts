/**
 * Blob uploads, counted by a proxy in front of a real registry: HEAD skips,
 * cross-repository mounts that send no blob bytes, monolithic PUT below the
 * chunk threshold and PATCH chunks with Content-Range above it, restarts
 * after failures, and content that does not match its descriptor.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryError } from '../../lib/registry/index.ts';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoCopy } from '../helpers/skopeo.ts';
import { clientFor, fetchBlob, makeImage, pushImage, randomBytesSeeded, rawDescriptor, ref } from './client-kit.ts';
import { type FaultProxy, type ProxyRecord, apiRecords, startFaultProxy } from './fault-proxy.ts';

let reg: RunningRegistry;
let proxy: FaultProxy;
let work: string;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  proxy = await startFaultProxy(reg.url);
  work = await mkdtemp(join(tmpdir(), 'kiln-upload-'));
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const uploads = (records: readonly ProxyRecord[]): ProxyRecord[] => apiRecords(records).filter((r) => r.path.includes('/blobs/uploads/'));
const bytesSent = (records: readonly ProxyRecord[]): number => uploads(records).reduce((n, r) => n + r.bytesIn, 0);
const client = (opts: Parameters<typeof clientFor>[1] = {}) => clientFor({ ...reg, host: proxy.host, caCertPath: undefined } as RunningRegistry, opts);

test('pushing the same image to a second repository mounts every blob: no blob bytes sent', async () => {
  const { image, cleanup } = await makeImage({ seed: 41, layers: 3 });
  const c = client();
  try {
    proxy.records.length = 0;
    assert.deepEqual(await pushImage(c, ref(proxy.host, 'mount/src:v1'), image), ['uploaded', 'uploaded', 'uploaded', 'uploaded']);
    const total = image.configDescriptor.size + image.layers.reduce((n, l) => n + l.descriptor.size, 0);
    assert.equal(bytesSent(proxy.records), total, 'the first push sends every byte once');
    proxy.records.length = 0;
    assert.deepEqual(await pushImage(c, ref(proxy.host, 'mount/dst:v1'), image, { mountFrom: 'mount/src' }), ['mounted', 'mounted', 'mounted', 'mounted']);
    assert.equal(bytesSent(proxy.records), 0, 'the mount sends no blob bytes');
    const posts = uploads(proxy.records).filter((r) => r.method === 'POST');
    assert.equal(posts.length, 4);
    for (const p of posts) {
      assert.equal(p.query.get('from'), 'mount/src');
      assert.equal(p.status, 201);
    }
    assert.ok(!uploads(proxy.records).some((r) => r.method === 'PATCH' || r.method === 'PUT'));
  } finally {
    await c.close();
    await cleanup();
  }
  const out = join(work, 'mounted');
  await skopeoCopy(`docker://${reg.host}/mount/dst:v1`, `oci:${out}:v1`, { registry: reg });
  const [validated] = await assertValidLayout(out);
  assert.equal(validated?.manifestDigest, image.descriptor.digest);
});

test('a refused mount (blob not in the source) falls back to the upload the registry opened', async () => {
  const bytes = randomBytesSeeded(5000, 42);
  const desc = rawDescriptor(bytes);
  const c = client();
  try {
    proxy.records.length = 0;
    assert.equal(await c.pushBlob(ref(proxy.host, 'mount/other'), desc, () => Readable.from([bytes]), { mountFrom: 'mount/empty' }), 'uploaded');
    const ups = uploads(proxy.records);
    assert.deepEqual(ups.map((r) => `${r.method} ${r.status}`), ['POST 202', 'PUT 201']);
    assert.equal(ups[0]!.query.get('mount'), desc.digest);
    assert.equal(ups[1]!.bytesIn, 5000);
  } finally {
    await c.close();
  }
  assert.ok((await fetchBlob(reg, 'mount/other', desc.digest))?.equals(bytes));
});

test('below the threshold one PUT carries the blob; from it on, PATCH chunks with Content-Range, then an empty PUT', async () => {
  const c = client({ upload: { chunkThreshold: 1000, chunkSize: 400 } });
  try {
    for (const [size, seed] of [[999, 1], [1000, 2], [1500, 3], [0, 4]] as const) {
      const bytes = randomBytesSeeded(size, 430 + seed);
      const desc = rawDescriptor(bytes);
      proxy.records.length = 0;
      // Delivered in odd pieces, so chunks must be regrouped.
      const pieces = [bytes.subarray(0, 7), bytes.subarray(7, 777), bytes.subarray(777)];
      const progress: number[] = [];
      assert.equal(await c.pushBlob(ref(proxy.host, 'chunks/app'), desc, () => Readable.from(pieces), { onProgress: (n) => progress.push(n) }), 'uploaded');
      assert.equal(progress.at(-1) ?? 0, size, `progress reaches ${size}`);
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
      const ups = uploads(proxy.records).filter((r) => r.method !== 'POST');
      if (size < 1000) {
        assert.deepEqual(ups.map((r) => [r.method, r.bytesIn]), [['PUT', size]], `size ${size}`);
        assert.equal(ups[0]!.query.get('digest'), desc.digest);
      } else {
        const expected: [string, number, string | undefined][] = [];
        for (let off = 0; off < size; off += 400) expected.push(['PATCH', Math.min(400, size - off), `${off}-${Math.min(off + 400, size) - 1}`]);
        expected.push(['PUT', 0, undefined]);
        assert.deepEqual(ups.map((r) => [r.method, r.bytesIn, r.headers['content-range']]), expected, `size ${size}`);
        assert.equal(ups.at(-1)!.query.get('digest'), desc.digest);
      }
      assert.ok((await fetchBlob(reg, 'chunks/app', desc.digest))?.equals(bytes), `stored bytes of ${size}`);
    }
  } finally {
    await c.close();
  }
});

test('a blob already there is not read at all', async () => {
  const bytes = randomBytesSeeded(300, 44);
  const c = client();
  try {
    await c.pushBlob(ref(proxy.host, 'exists/app'), rawDescriptor(bytes), () => Readable.from([bytes]));
    proxy.records.length = 0;
    const got = await c.pushBlob(ref(proxy.host, 'exists/app'), rawDescriptor(bytes), () => {
      throw new Error('must not be opened');
    });
    assert.equal(got, 'exists');
    assert.deepEqual(apiRecords(proxy.records).map((r) => r.method), ['HEAD']);
    assert.equal(await c.blobExists(ref(proxy.host, 'exists/app'), rawDescriptor(bytes).digest), true);
    assert.equal(await c.blobExists(ref(proxy.host, 'exists/app'), rawDescriptor(Buffer.from('x')).digest), false);
  } finally {
    await c.close();
  }
});

test('an upload that fails on the way restarts from the beginning, reopening the content', async () => {
  for (const [name, chunked, failing] of [['monolithic', false, 'PUT'], ['chunked', true, 'PATCH']] as const) {
    const bytes = randomBytesSeeded(2000, name.length);
    const desc = rawDescriptor(bytes);
    let failures = 0;
    proxy.setRule((r) => (r.method === failing && r.path.includes('/blobs/uploads/') && failures++ === 0 ? { respond: { status: 503 } } : undefined));
    const c = client({ upload: chunked ? { chunkThreshold: 1000, chunkSize: 700 } : {} });
    let opened = 0;
    try {
      proxy.records.length = 0;
      assert.equal(await c.pushBlob(ref(proxy.host, `restart/${name}`), desc, () => {
        opened++;
        return Readable.from([bytes]);
      }), 'uploaded');
      assert.equal(opened, 2, name);
      assert.equal(uploads(proxy.records).filter((r) => r.method === 'POST').length, 2, name);
    } finally {
      proxy.setRule(undefined);
      await c.close();
    }
    assert.ok((await fetchBlob(reg, `restart/${name}`, desc.digest))?.equals(bytes));
  }
});

test('content that does not match its descriptor is DIGEST_MISMATCH and is not stored', async () => {
  const good = randomBytesSeeded(1500, 45);
  const desc = rawDescriptor(good);
  const bad = Buffer.from(good);
  bad[700] = (bad[700]! + 1) % 256;
  for (const upload of [{}, { chunkThreshold: 1000, chunkSize: 400 }]) {
    const c = client({ upload });
    try {
      await assert.rejects(c.pushBlob(ref(proxy.host, 'bad/app'), desc, () => Readable.from([bad])), (e: unknown) => {
        assert.ok(e instanceof RegistryError, String(e));
        assert.equal(e.code, 'DIGEST_MISMATCH');
        assert.match(e.message, /does not match its descriptor/);
        return true;
      });
      await assert.rejects(c.pushBlob(ref(proxy.host, 'bad/app'), desc, () => Readable.from([good.subarray(0, 1000)])), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_MISMATCH');
      assert.equal(await c.blobExists(ref(proxy.host, 'bad/app'), desc.digest), false);
    } finally {
      await c.close();
    }
  }
});
