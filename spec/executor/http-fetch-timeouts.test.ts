/**
 * The timeouts of `ADD <url>` downloads (lib/executor/http-fetch.ts): a
 * server that never finishes a TLS handshake (connect), one that never
 * answers (response), one that stops in the middle of a body (idle). Each
 * fails with ADD_URL_TIMEOUT saying which timeout fired, its value and how
 * to change it, long before the defaults would; a server that is merely
 * slow within the timeouts is not cut off. Then build() with
 * `timeouts`: the option reaches ADD. All servers are in this file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from '../../lib/build.ts';
import { DEFAULT_FETCH_TIMEOUTS, httpFetcher } from '../../lib/executor/http-fetch.ts';
import { tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-fetch-timeouts-');
let http: Server;
let silentTcp: TcpServer;
let base = '';
let tlsUrl = '';
const sockets = new Set<Socket>();
const track = (s: Socket): void => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
};

before(async () => {
  http = createServer((req, res) => {
    switch (req.url) {
      case '/silent':
        return; // never answers
      case '/partial':
        res.writeHead(200, { 'content-length': '100' });
        res.write('x'.repeat(10)); // then nothing
        return;
      case '/slow': {
        // 5 chunks 100 ms apart: slower than any single timeout would allow in total, never idle for long.
        res.writeHead(200, { 'content-length': '5' });
        let n = 0;
        const tick = setInterval(() => {
          res.write('s');
          if (++n === 5) {
            clearInterval(tick);
            res.end();
          }
        }, 100);
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  http.on('connection', track);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  // Accepts TCP connections and never says a word: a TLS handshake there never ends.
  silentTcp = createTcpServer(track);
  await new Promise<void>((resolve) => silentTcp.listen(0, '127.0.0.1', resolve));
  tlsUrl = `https://127.0.0.1:${(silentTcp.address() as { port: number }).port}/file`;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([new Promise((r) => http.close(r)), new Promise((r) => silentTcp.close(r))]);
  tmp.cleanup();
});

async function readAll(body: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of body) s += String(chunk);
  return s;
}

const timeoutError = (which: string, message: RegExp) => (err: unknown): boolean => {
  const e = err as { code?: string; message?: string; fields?: { timeout?: string } };
  assert.equal(e.code, 'ADD_URL_TIMEOUT');
  assert.equal(e.fields?.timeout, which);
  assert.match(e.message ?? '', message);
  return true;
};

describe('httpFetcher timeouts', () => {
  test('the defaults are the registry client\'s: 30 s to connect, 60 s for the response, 60 s idle', () => {
    assert.deepEqual({ ...DEFAULT_FETCH_TIMEOUTS }, { connectMs: 30_000, headersMs: 60_000, bodyIdleMs: 60_000 });
  });

  test('a TLS handshake that never ends: the connect timeout', async () => {
    const fetch = httpFetcher({ timeouts: { connectMs: 200 } });
    await assert.rejects(fetch(tlsUrl), timeoutError('connect', /could not connect within 200ms \(the connect timeout; raise it with --connect-timeout or KILN_CONNECT_TIMEOUT\)/));
  });

  test('no response headers: the response timeout', async () => {
    const fetch = httpFetcher({ timeouts: { headersMs: 200 } });
    await assert.rejects(fetch(`${base}/silent`), timeoutError('response', /\/silent: no response within 200ms \(the response timeout; raise it with --response-timeout or KILN_RESPONSE_TIMEOUT\)/));
  });

  test('a body that stops: the idle timeout fails the body stream', async () => {
    const res = await httpFetcher({ timeouts: { bodyIdleMs: 200 } })(`${base}/partial`);
    assert.equal(res.size, 100);
    await assert.rejects(readAll(res.body), timeoutError('idle', /\/partial: the download stalled: no data for 200ms \(the idle timeout; raise it with --idle-timeout or KILN_IDLE_TIMEOUT\)/));
  });

  test('a slow body that never pauses for long is read whole, over more time than the idle timeout', async () => {
    const res = await httpFetcher({ timeouts: { bodyIdleMs: 300, headersMs: 300 } })(`${base}/slow`);
    assert.equal(await readAll(res.body), 'sssss');
  });
});

test('build() passes its timeouts to ADD <url>: ADD_URL_TIMEOUT at the Dockerfile line', async () => {
  const cases: [string, { headersMs?: number; bodyIdleMs?: number }, RegExp][] = [
    ['silent', { headersMs: 250 }, /\/silent: no response within 250ms/],
    ['partial', { bodyIdleMs: 250 }, /\/partial: the download stalled: no data for 250ms/],
  ];
  for (const [path, timeouts, message] of cases) {
    const ctx = join(tmp.dir, `ctx-${path}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nADD ${base}/${path} /downloaded\n`);
    await assert.rejects(build({ contextDir: ctx, home: join(tmp.dir, 'home'), timeouts }), (err: unknown) => {
      const e = err as { code?: string; message?: string; location?: { line: number } };
      assert.equal(e.code, 'ADD_URL_TIMEOUT');
      assert.equal(e.location?.line, 2);
      assert.match(e.message ?? '', message);
      return true;
    });
  }
});
