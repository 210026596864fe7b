/**
 * Auth flows against the kit's registries: Docker token auth (anonymous,
 * Basic to the token server, OAuth2 refresh token), scope enforcement,
 * token reuse and renewal (counted in the token server's request log),
 * Basic auth, wrong credentials — and no secret in any error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import type { Descriptor } from '../../lib/oci/index.ts';
import { RegistryError } from '../../lib/registry/index.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { pushRandomImage } from '../helpers/registry-images.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { clientFor, makeImage, pushImage, readAll, ref } from './client-kit.ts';

const WRONG = 'WRONG-pass-7f3c';

/** Everything an error exposes, cause chain included. */
function exposed(err: unknown): string {
  return `${inspect(err, { depth: 20, showHidden: true })} ${JSON.stringify((err as RegistryError).fields ?? {})} ${String(err)}`;
}

function assertNoSecrets(err: unknown, secrets: readonly string[]): void {
  const text = exposed(err);
  assert.match(text, /RegistryError/, 'the inspection shows the error itself');
  for (const s of secrets) assert.ok(!text.includes(s), `error exposes ${s}: ${text.slice(0, 400)}`);
  assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(text), 'error exposes a JWT');
}

const isCode = (code: string) => (e: unknown): boolean => {
  assert.ok(e instanceof RegistryError, String(e));
  assert.equal(e.code, code, e.message);
  return true;
};

describe('token auth', () => {
  let reg: RunningRegistry;
  let layers: Descriptor[];
  before(async () => {
    reg = await startRegistry({
      mode: 'token',
      access: [
        { account: 'alice', name: 'alice/*', actions: ['pull', 'push'] },
        { account: 'alice', name: 'public/*', actions: ['pull', 'push'] },
        { account: '*', name: '*', actions: ['pull'] },
        { account: 'anonymous', name: 'public/*', actions: ['pull'] },
      ],
    });
    const pushed = await pushRandomImage(reg, 'alice/base:v1', { seed: 31, layers: 3, creds: 'alice:alice-secret' });
    layers = pushed.image.layers.map((l) => l.descriptor);
    await pushRandomImage(reg, 'public/app:v1', { seed: 32, creds: 'alice:alice-secret' });
  });
  after(async () => {
    await reg?.stop();
  });

  test('one token serves a whole pull, however many blobs are fetched at once', async () => {
    const client = clientFor(reg);
    reg.tokenServer!.clearRequests();
    try {
      const repo = ref(reg.host, 'alice/base');
      // All at once from a fresh client: every request waits for the same token.
      await Promise.all([client.getManifest(ref(reg.host, 'alice/base:v1')), ...layers.map(async (d) => readAll(await client.openBlob(repo, d)))]);
      await client.getManifest(ref(reg.host, 'alice/base:v1'));
    } finally {
      await client.close();
    }
    const requests = reg.tokenServer!.requests();
    assert.equal(requests.length, 1, JSON.stringify(requests));
    assert.deepEqual(requests[0]!.scopes, ['repository:alice/base:pull']);
    assert.equal(requests[0]!.user, 'alice');
    assert.equal(requests[0]!.account, 'alice');
    assert.equal(requests[0]!.service, reg.tokenServer!.service);
  });

  test('a cached token is renewed once the clock passes its expiry', async () => {
    let clock = Date.now();
    const client = clientFor(reg, { now: () => clock });
    reg.tokenServer!.clearRequests();
    try {
      await client.getManifest(ref(reg.host, 'alice/base:v1'));
      clock += 200_000;
      await client.getManifest(ref(reg.host, 'alice/base:v1'));
      assert.equal(reg.tokenServer!.requests().length, 1, 'still valid after 200 s of 300');
      clock += 100_000;
      await client.getManifest(ref(reg.host, 'alice/base:v1'));
      assert.equal(reg.tokenServer!.requests().length, 2, 'renewed after expiry');
    } finally {
      await client.close();
    }
  });

  test('a token the registry refuses (expired early) is dropped and re-fetched once', async () => {
    reg.tokenServer!.configure({ expiresIn: 1, enforceExpiry: true });
    const client = clientFor(reg);
    reg.tokenServer!.clearRequests();
    try {
      await client.getManifest(ref(reg.host, 'alice/base:v1'));
      await sleep(2100);
      const m = await client.getManifest(ref(reg.host, 'alice/base:v1'));
      assert.ok(m.bytes.length > 0);
      assert.equal(reg.tokenServer!.requests().length, 2);
    } finally {
      reg.tokenServer!.configure({ expiresIn: 300, enforceExpiry: false });
      await client.close();
    }
  });

  test('anonymous pull works where anonymous access is granted; anonymous push asks to log in', async () => {
    const client = clientFor(reg, { creds: null });
    reg.tokenServer!.clearRequests();
    try {
      const m = await client.getManifest(ref(reg.host, 'public/app:v1'));
      assert.ok(m.bytes.length > 0);
      assert.equal(reg.tokenServer!.requests()[0]!.user, null);
      assert.equal(reg.tokenServer!.requests()[0]!.account, undefined);
      await assert.rejects(client.getManifest(ref(reg.host, 'alice/base:v1')), isCode('UNAUTHORIZED'));
      const { image, cleanup } = await makeImage({ seed: 33 });
      try {
        await assert.rejects(pushImage(client, ref(reg.host, 'public/app:v2'), image), (e: unknown) => isCode('UNAUTHORIZED')(e) && /log in/.test((e as Error).message));
      } finally {
        await cleanup();
      }
    } finally {
      await client.close();
    }
  });

  test('a scope violation is refused: alice may push alice/* but not bob/*', async () => {
    const { image, cleanup } = await makeImage({ seed: 34 });
    const client = clientFor(reg);
    reg.tokenServer!.clearRequests();
    try {
      await pushImage(client, ref(reg.host, 'alice/new:v1'), image);
      let denied: unknown;
      await assert.rejects(pushImage(client, ref(reg.host, 'bob/app:v1'), image), (e: unknown) => {
        denied = e;
        return isCode('DENIED')(e);
      });
      assert.match((denied as Error).message, /bob\/app/);
      assertNoSecrets(denied, ['alice-secret']);
      const asked = reg.tokenServer!.requests().filter((r) => r.scopes.some((s) => s.startsWith('repository:bob/app:')));
      assert.ok(asked.length > 0);
      for (const r of asked) assert.ok(!r.granted.some((g) => g.name === 'bob/app' && g.actions.includes('push')), 'the token server never granted push on bob/app');
    } finally {
      await client.close();
      await cleanup();
    }
    await assert.rejects(skopeoInspect(reg, 'bob/app:v1', { creds: 'alice:alice-secret' }), 'nothing was pushed to bob/app');
    assert.match(await skopeoInspect(reg, 'alice/new:v1', { creds: 'alice:alice-secret' }), /"Digest"/);
  });

  test('a cross-repository mount asks for both scopes in one token', async () => {
    const client = clientFor(reg);
    reg.tokenServer!.clearRequests();
    try {
      const got = await client.pushBlob(ref(reg.host, 'alice/mounted'), layers[0]!, () => {
        throw new Error('a mount must not read the content');
      }, { mountFrom: 'alice/base' });
      assert.equal(got, 'mounted');
    } finally {
      await client.close();
    }
    const scopes = reg.tokenServer!.requests().map((r) => [...r.scopes].sort().join(' '));
    assert.ok(scopes.includes('repository:alice/base:pull repository:alice/mounted:pull,push'), JSON.stringify(scopes));
  });

  test('an OAuth2 refresh token (identitytoken) is exchanged with a form POST', async () => {
    const url = new URL(reg.tokenServer!.realm);
    url.search = new URLSearchParams({ service: reg.tokenServer!.service, offline_token: 'true', client_id: 'test', account: 'alice' }).toString();
    const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` } });
    const { refresh_token: refresh } = (await res.json()) as { refresh_token: string };
    assert.ok(refresh);
    const client = clientFor(reg, { creds: { kind: 'identity-token', username: undefined, identityToken: refresh } });
    reg.tokenServer!.clearRequests();
    try {
      const m = await client.getManifest(ref(reg.host, 'alice/base:v1'));
      assert.ok(m.bytes.length > 0);
    } finally {
      await client.close();
    }
    const [r] = reg.tokenServer!.requests();
    assert.equal(r?.method, 'POST');
    assert.equal(r?.grant, 'refresh_token');
    assert.equal(r?.clientId, 'kiln');
    assert.equal(r?.user, 'alice');
    const bad = clientFor(reg, { creds: { kind: 'identity-token', username: undefined, identityToken: 'not-a-refresh-token-9c1' } });
    try {
      await assert.rejects(bad.getManifest(ref(reg.host, 'alice/base:v1')), (e: unknown) => isCode('UNAUTHORIZED')(e) && (assertNoSecrets(e, ['not-a-refresh-token-9c1']), true));
    } finally {
      await bad.close();
    }
  });
});

for (const mode of ['basic', 'tls-basic', 'token', 'tls-token'] as const) {
  describe(`wrong credentials (${mode})`, () => {
    let reg: RunningRegistry;
    before(async () => {
      reg = await startRegistry({ mode });
      await pushRandomImage(reg, 'app/x:v1', { seed: 35 });
    });
    after(async () => {
      await reg?.stop();
    });

    test('are UNAUTHORIZED, naming registry and reference but no secret', async () => {
      const client = clientFor(reg, { creds: { kind: 'basic', username: 'alice', password: WRONG } });
      const secrets = [WRONG, Buffer.from(`alice:${WRONG}`).toString('base64')];
      try {
        let err: unknown;
        await assert.rejects(client.getManifest(ref(reg.host, 'app/x:v1')), (e: unknown) => {
          err = e;
          return isCode('UNAUTHORIZED')(e);
        });
        assert.ok((err as Error).message.includes(`${reg.host}/app/x:v1`), (err as Error).message);
        assertNoSecrets(err, secrets);
        const { image, cleanup } = await makeImage({ seed: 36 });
        await assert.rejects(pushImage(client, ref(reg.host, 'app/y:v1'), image), (e: unknown) => isCode('UNAUTHORIZED')(e) && (assertNoSecrets(e, secrets), true));
        await cleanup();
        await assert.rejects(client.checkCredentials(reg.host, { kind: 'basic', username: 'alice', password: WRONG }), (e: unknown) => isCode('UNAUTHORIZED')(e) && (assertNoSecrets(e, secrets), true));
        await client.checkCredentials(reg.host, { kind: 'basic', username: 'bob', password: 'bob-secret' });
      } finally {
        await client.close();
      }
    });

    test('no credentials at all ask to log in', async () => {
      const client = clientFor(reg, { creds: null });
      try {
        if (mode.endsWith('basic')) {
          await assert.rejects(client.getManifest(ref(reg.host, 'app/x:v1')), (e: unknown) => isCode('UNAUTHORIZED')(e) && /no credentials are configured/.test((e as Error).message));
        } else {
          // The kit's token server grants anonymous pulls by default.
          assert.ok((await client.getManifest(ref(reg.host, 'app/x:v1'))).bytes.length > 0);
        }
      } finally {
        await client.close();
      }
    });
  });
}
