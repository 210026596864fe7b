/**
 * The kit's token server against the real registry: scope checks are the
 * registry's (it verifies the JWTs and their `access` claims), clients are
 * skopeo and plain fetch.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { pushRandomImage, writeRandomImage } from '../helpers/registry-images.ts';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.ts';
import { type TokenAccessRule, decodeJwt } from '../helpers/token-server.ts';

/** alice may do anything, bob may push only under bob/, everyone may pull. */
const RULES: TokenAccessRule[] = [
  { account: 'alice', name: '*', actions: ['*'] },
  { account: 'bob', name: 'bob/*', actions: ['pull', 'push'] },
  { account: 'bob', name: '*', actions: ['pull'] },
  { account: 'anonymous', name: '*', actions: ['pull'] },
];

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** GET /token as token.md describes it. */
async function getToken(reg: RunningRegistry, scopes: readonly string[], opts: { auth?: string; offline?: boolean } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const ts = reg.tokenServer!;
  const q = new URLSearchParams({ service: ts.service });
  for (const s of scopes) q.append('scope', s);
  if (opts.offline === true) q.set('offline_token', 'true');
  const res = await fetch(`${ts.realm}?${q}`, { headers: opts.auth === undefined ? {} : { authorization: opts.auth } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** POST /token as oauth.md describes it. */
async function postToken(reg: RunningRegistry, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(reg.tokenServer!.realm, { method: 'POST', body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** One registry request with a bearer token: its status and WWW-Authenticate. */
async function withToken(reg: RunningRegistry, method: string, path: string, token: unknown): Promise<{ status: number; challenge: string }> {
  const res = await fetch(`${reg.url}${path}`, { method, headers: { authorization: `Bearer ${String(token)}` } });
  await res.arrayBuffer();
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '' };
}

describe('token auth with per-repository rules', () => {
  let reg: RunningRegistry;
  let work: string;
  before(async () => {
    reg = await startRegistry({ mode: 'token', access: RULES });
    work = await mkdtemp(join(tmpdir(), 'kiln-kit-token-'));
    await pushRandomImage(reg, 'alice/x:v1', { seed: 1, creds: 'alice:alice-secret' });
  });
  after(async () => {
    await reg?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('refuses bob a push to alice/x but lets him push to bob/x', async () => {
    const layout = await writeRandomImage(join(work, 'bob-image'), { seed: 2 });
    reg.tokenServer!.clearRequests();
    const refused = await skopeoCopy(layout.sourceRef, dockerRef(reg, 'alice/x:from-bob'), { registry: reg, destCreds: 'bob:bob-secret', allowFailure: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /denied|unauthorized/);
    const asked = reg.tokenServer!.requests();
    assert.ok(asked.length > 0);
    for (const r of asked) {
      assert.equal(r.user, 'bob');
      assert.ok(r.scopes.includes('repository:alice/x:pull,push'), `scopes: ${r.scopes.join(' ')}`);
      assert.deepEqual(r.granted, [{ type: 'repository', name: 'alice/x', actions: ['pull'] }]);
    }
    assert.match(reg.logs(), /insufficient scope/);

    const ok = await skopeoCopy(layout.sourceRef, dockerRef(reg, 'bob/x:v1'), { registry: reg, destCreds: 'bob:bob-secret' });
    assert.equal(ok.digest, layout.manifestDigest);
    const granted = reg.tokenServer!.requests().filter((r) => r.scopes.includes('repository:bob/x:pull,push'));
    assert.deepEqual(granted.at(-1)?.granted, [{ type: 'repository', name: 'bob/x', actions: ['pull', 'push'] }]);
  });

  it('lets anonymous clients pull and refuses their push', async () => {
    const out = join(work, 'anonymous-pull');
    const pulled = await skopeoCopy(dockerRef(reg, 'alice/x:v1'), `oci:${out}:x`, { registry: reg, srcCreds: null });
    assert.equal(pulled.code, 0);
    const layout = await writeRandomImage(join(work, 'anonymous-image'), { seed: 3 });
    const pushed = await skopeoCopy(layout.sourceRef, dockerRef(reg, 'alice/anon:v1'), { registry: reg, destCreds: null, allowFailure: true });
    assert.notEqual(pushed.code, 0);
    const anonymous = reg.tokenServer!.requests().filter((r) => r.user === null && r.status === 200);
    assert.ok(anonymous.some((r) => r.granted.some((g) => g.name === 'alice/x' && g.actions.join() === 'pull')));
    assert.ok(anonymous.every((r) => r.granted.every((g) => !g.actions.includes('push'))));
  });

  it('covers two repositories with one token when asked for two scopes', async () => {
    reg.tokenServer!.clearRequests();
    const { status, body } = await getToken(reg, ['repository:alice/x:pull', 'repository:bob/x:pull'], { auth: basic('bob', 'bob-secret') });
    assert.equal(status, 200);
    assert.equal(body.token, body.access_token);
    assert.equal(typeof body.expires_in, 'number');
    assert.ok(!Number.isNaN(Date.parse(String(body.issued_at))));
    const { header, claims } = decodeJwt(String(body.token));
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, reg.tokenServer!.keyId);
    assert.equal(claims.aud, 'kiln-test-registry');
    assert.equal(claims.sub, 'bob');
    assert.equal((await withToken(reg, 'GET', '/v2/alice/x/tags/list', body.token)).status, 200);
    assert.equal((await withToken(reg, 'GET', '/v2/bob/x/tags/list', body.token)).status, 200);
    const refused = await withToken(reg, 'POST', '/v2/bob/x/blobs/uploads/', body.token);
    assert.equal(refused.status, 401, 'the token holds pull only');
    assert.match(refused.challenge, /error="insufficient_scope"/);
    const log = reg.tokenServer!.requests();
    assert.equal(log.length, 1);
    assert.deepEqual(log[0]!.scopes, ['repository:alice/x:pull', 'repository:bob/x:pull']);
  });

  it('answers wrong credentials with 401 and a scope-less request with an empty token', async () => {
    const wrong = await getToken(reg, ['repository:alice/x:pull'], { auth: basic('alice', 'nope') });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(JSON.stringify(reg.tokenServer!.requests()), /nope|alice-secret/, 'the log never holds a password');
    const bare = await getToken(reg, []);
    assert.equal(bare.status, 200);
    assert.deepEqual(decodeJwt(String(bare.body.token)).claims.access, []);
    assert.equal((await withToken(reg, 'GET', '/v2/', bare.body.token)).status, 200);
  });

  it('issues refresh tokens (offline_token, OAuth2 password and refresh_token grants)', async () => {
    const first = await getToken(reg, [], { auth: basic('alice', 'alice-secret'), offline: true });
    const refresh = String(first.body.refresh_token);
    assert.ok(refresh.length >= 16);
    const scope = 'repository:alice/x:pull,push';
    const renewed = await postToken(reg, { grant_type: 'refresh_token', refresh_token: refresh, service: 'kiln-test-registry', client_id: 'kiln-test', scope });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.body.scope, scope);
    assert.equal(renewed.body.refresh_token, undefined, 'no access_type=offline: no refresh token');
    assert.equal(decodeJwt(String(renewed.body.access_token)).claims.sub, 'alice');
    assert.equal((await withToken(reg, 'GET', '/v2/alice/x/tags/list', renewed.body.access_token)).status, 200);

    const password = await postToken(reg, { grant_type: 'password', username: 'bob', password: 'bob-secret', service: 'kiln-test-registry', client_id: 'kiln-test', access_type: 'offline', scope: 'repository:alice/x:pull,push' });
    assert.equal(password.status, 200);
    assert.equal(password.body.scope, 'repository:alice/x:pull');
    assert.equal(typeof password.body.refresh_token, 'string');
    assert.equal((await postToken(reg, { grant_type: 'refresh_token', refresh_token: 'made-up', service: 'kiln-test-registry', client_id: 'k' })).status, 401);
    assert.equal((await postToken(reg, { grant_type: 'password', username: 'bob', password: 'x', service: 'kiln-test-registry', client_id: 'k' })).status, 401);
    assert.equal((await postToken(reg, { grant_type: 'password', username: 'bob', password: 'bob-secret', service: 'kiln-test-registry' })).status, 400);

    reg.tokenServer!.configure({ oauth: false });
    try {
      assert.equal((await postToken(reg, { grant_type: 'refresh_token', refresh_token: refresh, service: 'kiln-test-registry', client_id: 'k' })).status, 404);
    } finally {
      reg.tokenServer!.configure({ oauth: true });
    }
  });

  it('does not let the token server block when a client runs synchronously (child process)', () => {
    // curl blocks this process; an in-process server could not answer it.
    const out = execFileSync('curl', ['-s', '-u', 'alice:alice-secret', `${reg.tokenServer!.realm}?service=kiln-test-registry&scope=repository:alice/x:pull`], { encoding: 'utf8', timeout: 10_000 });
    assert.deepEqual(decodeJwt(String((JSON.parse(out) as { token: string }).token)).claims.access, [{ type: 'repository', name: 'alice/x', actions: ['pull'] }]);
  });
});

describe('token auth with short-lived tokens', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'token', token: { expiresIn: 2, enforceExpiry: true } });
  });
  after(async () => {
    await reg?.stop();
  });

  it('makes the registry refuse an expired token, so clients must ask again', async () => {
    const auth = basic('alice', 'alice-secret');
    const first = await getToken(reg, ['repository:alice/y:pull'], { auth });
    assert.equal(first.body.expires_in, 2);
    assert.equal((await withToken(reg, 'GET', '/v2/alice/y/tags/list', first.body.token)).status, 404, 'accepted: the repository is just unknown');
    await sleep(3100);
    const stale = await withToken(reg, 'GET', '/v2/alice/y/tags/list', first.body.token);
    assert.equal(stale.status, 401);
    assert.match(reg.logs(), /token not to be used after/);
    const second = await getToken(reg, ['repository:alice/y:pull'], { auth });
    assert.equal((await withToken(reg, 'GET', '/v2/alice/y/tags/list', second.body.token)).status, 404);
    assert.notEqual(decodeJwt(String(second.body.token)).claims.jti, decodeJwt(String(first.body.token)).claims.jti);
    assert.equal(reg.tokenServer!.requests().length, 2);
  });
});

describe('token server in the test process', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'token', users: { carol: 'carol-secret' }, token: { inProcess: true } });
  });
  after(async () => {
    await reg?.stop();
  });

  it('serves asynchronous clients (skopeo run with execFile) and records them', async () => {
    assert.equal(reg.tokenServer!.pid, undefined);
    const pushed = await pushRandomImage(reg, 'carol/app:v1', { seed: 9 });
    assert.equal(pushed.pushedDigest, pushed.manifestDigest);
    const users = new Set(reg.tokenServer!.requests().map((r) => r.user));
    assert.deepEqual([...users], ['carol'], 'the registry\'s first user is the default for pushes');
  });
});
