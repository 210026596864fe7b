/**
 * ADD of http(s) URLs, as BuildKit does it (convert_copy.go and the HTTP
 * source, source/http/source.go): the file is named after the URL's path
 * when the destination is a directory, stored 0600 root-owned with the
 * mtime of Last-Modified (else 0), then copied like any file (`--chmod`,
 * `--chown`), never unpacked unless `--unpack=true`; `--checksum` is
 * verified. After BuildKit's testAddURLChmod and testAddChecksum. A real
 * node:http server on 127.0.0.1 serves the files; expected digests come from
 * Python's hashlib. copy() is called directly (copy-kit.ts): the executor's
 * dispatch does not route URLs to it yet.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { copyError, copySteps } from './copy-kit.ts';
import { describeFs } from './build-kit.ts';

const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';
const BIG = 'kiln-'.repeat(60_000); // 300,000 bytes: stored in a spill file, streamed into the layer

let server: Server;
let url = '';
let archive: Buffer;
const hits: string[] = [];

function hashlib(algorithm: string, data: string | Buffer): string {
  return execFileSync('python3', ['-c', `import hashlib,sys;print(hashlib.${algorithm}(sys.stdin.buffer.read()).hexdigest())`], { input: data }).toString().trim();
}

before(async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-url-'));
  writeFileSync(join(tmp, 'README'), 'read me');
  execFileSync('tar', ['-czf', join(tmp, 'pkg.tar.gz'), '-C', tmp, 'README']);
  archive = readFileSync(join(tmp, 'pkg.tar.gz'));
  rmSync(tmp, { recursive: true, force: true });
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/foo') res.writeHead(200, { 'last-modified': LAST_MODIFIED }).end('content1');
    else if (path === '/dir/file.txt') res.end('hello');
    else if (path === '/') res.end('root');
    else if (path === '/big') res.end(BIG);
    else if (path === '/pkg.tar.gz') res.end(archive);
    else if (path === '/redirect') res.writeHead(302, { location: '/foo' }).end();
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

describe('ADD <url>', () => {
  test('into a directory: named after the URL path, 0600 root-owned, mtime from Last-Modified', async () => {
    const c = await copySteps({}, `ADD ${url}/foo /dl/\nADD ${url}/dir/file.txt?x=1#frag /q/\nADD ${url}/ /u/\n`);
    assert.deepEqual(describeFs(c.fs, 'dl'), ['dl: dir 0755 0:0', 'dl/foo: file 0600 0:0 "content1"']);
    assert.equal(c.fs['dl/foo']?.mtime, Date.UTC(2015, 9, 21, 7, 28, 0) / 1000);
    assert.equal(describeFs(c.fs, 'q/file.txt')[0], 'q/file.txt: file 0600 0:0 "hello"');
    assert.equal(c.fs['q/file.txt']?.mtime, 0, 'no Last-Modified: the epoch');
    assert.equal(c.fs['u/__unnamed__']?.text, 'root');
    assert.equal(c.history[0], `ADD ${url}/foo /dl/ # buildkit`);
  });

  test('to a file path: the destination itself; redirects are followed; large bodies stream through', async () => {
    const c = await copySteps({}, `ADD ${url}/foo /named\nADD ${url}/redirect /r/\nADD ${url}/big /big\n`);
    assert.equal(c.fs['named']?.text, 'content1');
    assert.equal(c.fs['r/redirect']?.text, 'content1', 'the name comes from the URL as written');
    assert.equal(c.fs['big']?.size, BIG.length);
    assert.equal(c.fs['big']?.text, BIG);
  });

  test('testAddURLChmod', async () => {
    const c = await copySteps({}, `ADD --chmod=644 ${url}/foo /tmp/foo1\nADD --chmod=755 ${url}/foo /tmp/foo2\nADD --chmod=0413 ${url}/foo /tmp/foo3\nADD --chmod=\${mode} ${url}/foo /tmp/foo4\n`, {
      env: { mode: '400' },
    });
    assert.deepEqual(['foo1', 'foo2', 'foo3', 'foo4'].map((f) => c.fs[`tmp/${f}`]?.mode.toString(8).padStart(4, '0')), ['0644', '0755', '0413', '0400']);
  });

  test('--chown and --link apply as to any file', async () => {
    const c = await copySteps({}, `ADD --chown=7:8 ${url}/foo /o/\nADD --link ${url}/dir/file.txt /l/\n`);
    assert.equal(describeFs(c.fs, 'o/foo')[0], 'o/foo: file 0600 7:8 "content1"');
    assert.deepEqual(c.layers[1]!.map((e) => e.name), ['l', 'l/file.txt']);
  });

  test('an archive is a file unless --unpack=true', async () => {
    const c = await copySteps({}, `ADD ${url}/pkg.tar.gz /p/\nADD --unpack=true ${url}/pkg.tar.gz /x/\n`);
    assert.equal(c.fs['p/pkg.tar.gz']?.size, archive.length);
    assert.equal(c.fs['x/README']?.text, 'read me');
    assert.equal(c.fs['x/pkg.tar.gz'], undefined);
  });

  describe('testAddChecksum', () => {
    const sha256 = () => `sha256:${hashlib('sha256', 'content1')}`;
    test('Valid', async () => {
      const c = await copySteps({}, `ADD --checksum=${sha256()} ${url}/foo /tmp/foo\n`);
      assert.equal(c.fs['tmp/foo']?.text, 'content1');
    });
    test('DigestFromEnv', async () => {
      const c = await copySteps({}, 'ADD --checksum=${DIGEST} ${LINK} /tmp/foo\n', { env: { DIGEST: sha256(), LINK: `${url}/foo` } });
      assert.equal(c.fs['tmp/foo']?.text, 'content1');
    });
    test('sha512 too', async () => {
      const c = await copySteps({}, `ADD --checksum=sha512:${hashlib('sha512', 'content1')} ${url}/foo /tmp/foo\n`);
      assert.equal(c.fs['tmp/foo']?.text, 'content1');
    });
    test('DigestMismatch', async () => {
      const err = await copyError({}, `ADD --checksum=sha256:${hashlib('sha256', '')} ${url}/foo /tmp/foo\n`);
      assert.equal(err.code, 'ADD_CHECKSUM_MISMATCH');
      assert.match(err.message, /digest mismatch/);
      assert.equal(err.line, 1);
    });
    const invalid: [string, string, RegExp][] = [
      ['DigestWithKnownButUnsupportedAlgoName', 'md5:7e55db001d319a94b0b713529a756623', /unsupported digest algorithm/],
      ['DigestWithUnknownAlgoName', `unknown:${hashlib('sha256', 'content1')}`, /unsupported digest algorithm/],
      ['DigestWithoutAlgoName', hashlib('sha256', 'content1'), /invalid checksum digest format/],
      ['DigestWithUppercaseHex', `sha256:${hashlib('sha256', 'content1').toUpperCase()}`, /invalid checksum digest length or encoding/],
    ];
    for (const [name, checksum, message] of invalid) {
      test(name, async () => {
        hits.length = 0;
        const err = await copyError({}, `ADD --checksum=${checksum} ${url}/foo /tmp/foo\n`);
        assert.equal(err.code, 'ADD_CHECKSUM_INVALID');
        assert.match(err.message, message);
        assert.deepEqual(hits, [], 'refused before anything is fetched');
      });
    }
    test('only for one http or git source', async () => {
      const two = await copyError({}, `ADD --checksum=${sha256()} ${url}/foo ${url}/foo /tmp/\n`);
      assert.deepEqual([two.code, two.message], ['ADD_CHECKSUM_INVALID', "checksum can't be specified for multiple sources"]);
      const local = await copyError({ a: 'a' }, `ADD --checksum=${sha256()} a /tmp/\n`);
      assert.deepEqual([local.code, local.message], ['ADD_CHECKSUM_INVALID', 'checksum requires HTTP(S) or Git sources']);
    });
  });

  test('failures: a 404, an unreachable server, git sources, URLs in COPY', async () => {
    const missing = await copyError({}, `ADD ${url}/missing /m\n`);
    assert.equal(missing.code, 'ADD_URL_FAILED');
    assert.match(missing.message, /404/);
    const closed = await copyError({}, 'ADD http://127.0.0.1:1/x /m\n');
    assert.equal(closed.code, 'ADD_URL_FAILED');
    for (const git of ['https://github.com/moby/buildkit.git', 'git@github.com:moby/buildkit.git', 'git://example.com/r']) {
      assert.equal((await copyError({}, `ADD ${git} /src\n`)).code, 'ADD_GIT_UNSUPPORTED', git);
    }
    const copyUrl = await copyError({}, `COPY ${url}/foo /x\n`);
    assert.deepEqual([copyUrl.code, copyUrl.message], ['COPY_SOURCE_INVALID', `source can't be a URL for COPY: ${url}/foo`]);
  });

  test('an injected fetcher is used instead of node:http', async () => {
    const asked: string[] = [];
    const c = await copySteps({}, 'ADD https://example.invalid/a/b.bin /in/\n', {
      fetch: async (u) => {
        asked.push(u);
        return { body: Readable.from([Buffer.from('from the fake')]), lastModified: new Date(Date.UTC(2020, 0, 2)), size: 13 };
      },
    });
    assert.deepEqual(asked, ['https://example.invalid/a/b.bin']);
    assert.equal(describeFs(c.fs, 'in/b.bin')[0], 'in/b.bin: file 0600 0:0 "from the fake"');
    assert.equal(c.fs['in/b.bin']?.mtime, Date.UTC(2020, 0, 2) / 1000);
    const short = await copyError({}, 'ADD https://example.invalid/x /in/\n', { fetch: async () => ({ body: Readable.from([Buffer.from('abc')]), size: 10 }) });
    assert.equal(short.code, 'ADD_URL_FAILED');
  });
});
