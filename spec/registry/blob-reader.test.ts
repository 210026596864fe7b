/**
 * Blob downloads through a fault-injecting proxy in front of a real
 * registry: resumption with Range after a dropped or stalled connection,
 * truncation when resuming is impossible, on-the-fly verification, and
 * redirects to storage on another host without the Authorization header.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { RegistryError } from '../../lib/registry/index.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { clientFor, randomBytesSeeded, rawDescriptor, readAll, ref, sha256hex } from './client-kit.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';

const SIZE = 1 << 20;
const flipLastByte = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  c[c.length - 1] = c[c.length - 1]! ^ 1;
  return c;
};
const isCode = (code: string) => (e: unknown): boolean => {
  assert.ok(e instanceof RegistryError, String(e));
  assert.equal(e.code, code, e.message);
  return true;
};

describe('an open registry behind a proxy', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  const bytes = randomBytesSeeded(SIZE, 51);
  const desc = rawDescriptor(bytes);
  const blobPath = `/v2/blobs/app/blobs/${desc.digest}`;
  const client = (opts: Parameters<typeof clientFor>[1] = {}) => clientFor({ ...reg, host: proxy.host } as RunningRegistry, opts);
  const repo = () => ref(proxy.host, 'blobs/app');
  const gets = () => proxy.records.filter((r) => r.method === 'GET' && r.path === blobPath);

  before(async () => {
    reg = await startRegistry({ mode: 'open' });
    proxy = await startFaultProxy(reg.url);
    const c = clientFor(reg);
    await c.pushBlob(ref(reg.host, 'blobs/app'), desc, () => Readable.from([bytes]));
    await c.close();
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  const faultOnce = (fault: Parameters<FaultProxy['setRule']>[0] extends ((...a: never[]) => infer F) | undefined ? F : never) => {
    let done = false;
    proxy.setRule((r) => {
      if (r.method !== 'GET' || r.path !== blobPath || done) return undefined;
      done = true;
      return fault;
    });
  };

  async function pull(opts: Parameters<typeof clientFor>[1] = {}, maxResumes?: number): Promise<Buffer> {
    const c = client(opts);
    try {
      return await readAll(await c.openBlob(repo(), desc, maxResumes === undefined ? {} : { maxResumes }));
    } finally {
      await c.close();
    }
  }

  test('a connection dropped mid-body resumes with Range where it stopped', async () => {
    proxy.records.length = 0;
    faultOnce({ cutAfter: 200_000 });
    const got = await pull();
    assert.equal(sha256hex(got), desc.digest);
    assert.ok(got.equals(bytes));
    const [first, second, ...rest] = gets();
    assert.equal(rest.length, 0);
    assert.equal(first!.headers.range, undefined);
    const m = /^bytes=(\d+)-$/.exec(String(second!.headers.range));
    assert.ok(m, `resume asked for ${second!.headers.range}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 200_000, `resumed at ${m[1]}`);
    assert.equal(second!.status, 206);
  });

  test('a stalled body times out and resumes', async () => {
    proxy.records.length = 0;
    faultOnce({ stallAfter: 100_000 });
    const got = await pull({ timeouts: { bodyIdleMs: 300 } });
    assert.ok(got.equals(bytes));
    assert.equal(gets().length, 2);
    assert.match(String(gets()[1]!.headers.range), /^bytes=\d+-$/);
  });

  test('a server that ignores Range on the resume: the bytes already read are skipped', async () => {
    proxy.records.length = 0;
    let n = 0;
    proxy.setRule((r) => (r.method === 'GET' && r.path === blobPath ? (n++ === 0 ? { cutAfter: 300_000 } : { dropRequestHeaders: ['range'] }) : undefined));
    const got = await pull();
    assert.ok(got.equals(bytes));
    assert.deepEqual(gets().map((r) => r.status), [200, 200]);
  });

  test('without Accept-Ranges a dropped connection is BLOB_TRUNCATED, naming the blob', async () => {
    proxy.records.length = 0;
    faultOnce({ cutAfter: 200_000, stripHeaders: ['accept-ranges'] });
    await assert.rejects(pull(), (e: unknown) => isCode('BLOB_TRUNCATED')(e) && (e as Error).message.includes(`${proxy.host}/blobs/app@${desc.digest}`));
    assert.equal(gets().length, 1);
  });

  test('resumes are bounded', async () => {
    proxy.records.length = 0;
    proxy.setRule((r) => (r.method === 'GET' && r.path === blobPath ? { cutAfter: 1000 } : undefined));
    await assert.rejects(pull({}, 2), (e: unknown) => isCode('BLOB_TRUNCATED')(e) && /after 2 resumes/.test((e as Error).message));
    assert.equal(gets().length, 3);
  });

  test('bytes that do not match the digest fail the stream with DIGEST_MISMATCH instead of ending', async () => {
    proxy.setRule((r) => (r.method === 'GET' && r.path === blobPath ? { mutateBody: flipLastByte } : undefined));
    const c = client();
    try {
      const stream = await c.openBlob(repo(), desc);
      let ended = false;
      stream.on('end', () => {
        ended = true;
      });
      await assert.rejects(readAll(stream), isCode('DIGEST_MISMATCH'));
      assert.equal(ended, false);
      proxy.setRule((r) => (r.method === 'GET' && r.path === blobPath ? { mutateBody: (b) => Buffer.concat([b, Buffer.from('x')]) } : undefined));
      await assert.rejects(readAll(await c.openBlob(repo(), desc)), (e: unknown) => isCode('DIGEST_MISMATCH')(e) && /longer than/.test((e as Error).message));
      proxy.setRule((r) => (r.method === 'GET' && r.path === blobPath ? { mutateBody: (b) => b.subarray(0, 1000), stripHeaders: ['accept-ranges'] } : undefined));
      await assert.rejects(readAll(await c.openBlob(repo(), desc)), isCode('BLOB_TRUNCATED'));
    } finally {
      proxy.setRule(undefined);
      await c.close();
    }
  });

  test('an unknown blob is BLOB_UNKNOWN when opened', async () => {
    const c = client();
    try {
      await assert.rejects(c.openBlob(repo(), rawDescriptor(Buffer.from('nope'))), isCode('BLOB_UNKNOWN'));
    } finally {
      await c.close();
    }
  });

  test('destroying the stream early frees the connection (the next read works)', async () => {
    const c = client({ connectionsPerHost: 1 });
    try {
      const s = await c.openBlob(repo(), desc);
      for await (const _ of s) break;
      assert.ok((await readAll(await c.openBlob(repo(), desc))).equals(bytes));
    } finally {
      await c.close();
    }
  });
});

describe('a Basic-auth registry redirecting blobs to storage on another host', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let cdn: Server;
  let cdnPort: number;
  const seen: IncomingHttpHeaders[] = [];
  const bytes = randomBytesSeeded(100_000, 52);
  const desc = rawDescriptor(bytes);
  let cdnStatus = 200;

  before(async () => {
    reg = await startRegistry({ mode: 'basic' });
    cdn = createServer((req, res) => {
      seen.push(req.headers);
      if (cdnStatus !== 200) {
        res.writeHead(cdnStatus, { 'content-type': 'application/xml' });
        res.end('<Error><Code>AccessDenied</Code><Signature>s3cr3t-sig</Signature></Error>');
        return;
      }
      res.writeHead(200, { 'content-length': String(bytes.length) });
      res.end(bytes);
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    cdnPort = (cdn.address() as AddressInfo).port;
    proxy = await startFaultProxy(reg.url, (r) =>
      r.method === 'GET' && r.path.includes('/blobs/sha256:')
        ? { respond: { status: 307, headers: { location: `http://localhost:${cdnPort}/bucket/blob?X-Amz-Signature=s3cr3t-sig&X-Amz-Credential=AKIA` } } }
        : undefined);
  });
  after(async () => {
    await proxy?.stop();
    await new Promise((r) => cdn?.close(r));
    await reg?.stop();
  });

  test('the registry gets the credentials, the storage host does not', async () => {
    const c = clientFor({ ...reg, host: proxy.host } as RunningRegistry);
    try {
      const got = await readAll(await c.openBlob(ref(proxy.host, 'cdn/app'), desc));
      assert.ok(got.equals(bytes));
    } finally {
      await c.close();
    }
    const blobReq = proxy.records.find((r) => r.path.includes('/blobs/sha256:'));
    assert.match(String(blobReq?.headers.authorization), /^Basic /);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.authorization, undefined);
  });

  test('a storage error names the blob, not the presigned URL', async () => {
    cdnStatus = 403;
    const c = clientFor({ ...reg, host: proxy.host } as RunningRegistry);
    try {
      await assert.rejects(c.openBlob(ref(proxy.host, 'cdn/app'), desc), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.code, 'DENIED');
        const text = inspect(e, { depth: 10 });
        assert.ok(!text.includes('s3cr3t-sig') && !text.includes('AKIA'), text);
        assert.ok(e.message.includes(`${proxy.host}/cdn/app@${desc.digest}`), e.message);
        return true;
      });
    } finally {
      cdnStatus = 200;
      await c.close();
    }
  });
});
