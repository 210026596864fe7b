/**
 * Issue 9, limits: the network timeouts are set from the command line
 * (`--connect-timeout`, `--response-timeout`, `--idle-timeout`, else
 * KILN_CONNECT_TIMEOUT, KILN_RESPONSE_TIMEOUT, KILN_IDLE_TIMEOUT) and a
 * timeout that fires says which one, its value, and how to change it. The
 * "registry" is a small server in this file that answers the ping and then
 * stalls: it sends nothing at all, or the headers and part of a body. With
 * timeouts of 300 ms each run ends in seconds (the client's five attempts,
 * undici's one-second timer tick) instead of five minutes at the defaults.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tempDir } from '../helpers/kiln.ts';
import { assertOneError, kiln, literal, newUser } from './registry-kit.ts';

const tmp = tempDir('kiln-timeouts-');
let server: Server;
let host: string;
const sockets = new Set<Socket>();
const stalled: ServerResponse[] = [];
const seen: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/v2/') {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    stalled.push(res);
    // `partial`: the headers and the start of a manifest, then silence; anything else: silence.
    if (req.url?.includes('/partial/')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '1000' });
      res.write('{"schemaVersion":2,');
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  tmp.cleanup();
});

test('a stalled registry: --response-timeout and --idle-timeout (or their variables) fire with a message that names them', async () => {
  const user = newUser(tmp.dir);
  const [flag, env, idle, bad] = await Promise.all([
    // the flag wins over the variable
    kiln(['pull', '--response-timeout', '300ms', `${host}/silent/app:1`], { ...user.env, KILN_RESPONSE_TIMEOUT: '1h' }),
    kiln(['pull', `${host}/silent/app:2`], { ...user.env, KILN_RESPONSE_TIMEOUT: '0.3s' }),
    kiln(['pull', '--idle-timeout', '300ms', `${host}/partial/app:1`], user.env),
    kiln(['pull', '--connect-timeout', 'soon', `${host}/silent/app:3`], user.env),
  ]);
  const noResponse = literal('no response within 300ms (the response timeout; raise it with --response-timeout or KILN_RESPONSE_TIMEOUT)');
  assertOneError(flag, 'REGISTRY_TIMEOUT', literal(`pull of ${host}/silent/app:1`), noResponse);
  assertOneError(env, 'REGISTRY_TIMEOUT', literal(`pull of ${host}/silent/app:2`), noResponse);
  assertOneError(idle, 'REGISTRY_TIMEOUT', literal('the response stalled: no data for 300ms (the idle timeout; raise it with --idle-timeout or KILN_IDLE_TIMEOUT)'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /invalid --connect-timeout "soon": give a duration such as 30s/);
  // Each timeout was retried as a transient failure, and each attempt reached the server.
  assert.equal(seen.filter((r) => r === 'GET /v2/silent/app/manifests/1').length, 5);
  assert.equal(seen.filter((r) => r === 'GET /v2/partial/app/manifests/1').length, 5);
  assert.equal(seen.filter((r) => r.includes('/app/manifests/3')).length, 0, 'a bad duration stops before any request');
});

test('a host that accepts connections and never answers: one https try, one plain-http try, then REGISTRY_TIMEOUT', async () => {
  const { createServer: createTcpServer } = await import('node:net');
  let connections = 0;
  const held = new Set<Socket>();
  const silent = createTcpServer((s) => {
    connections++;
    held.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as { port: number }).port;
    const user = newUser(tmp.dir);
    const run = await kiln(['pull', '--connect-timeout', '300ms', '--response-timeout', '300ms', `127.0.0.1:${port}/mute/app:1`], user.env);
    assertOneError(run, 'REGISTRY_TIMEOUT');
    // Retrying the plain-http ping would wait out the response timeout five more times.
    assert.equal(connections, 2);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
