/**
 * Every registry configuration of the kit (open, Basic, TLS, TLS+Basic,
 * token, TLS+token) through the real CLI: `kiln login --password-stdin`
 * writes config.json as docker does, then pull and push work; wrong
 * credentials are refused; with token auth a token for one repository does
 * not let a user push to another. No secret ever shows in the output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PushedImage, pushRandomImage } from '../helpers/registry-images.ts';
import { REGISTRY_MODES, type RegistryMode, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { ANONYMOUS, type TokenAccessRule } from '../helpers/token-access.ts';
import { type KilnRun, type KilnUser, assertOneError, kiln, kilnOk, literal, newUser, regFlags, sha256Of } from './registry-kit.ts';

/** Token modes: alice may do anything; bob may push only under bob/; anonymous requests may pull. */
const ACCESS: readonly TokenAccessRule[] = [
  { account: 'alice', name: '*', actions: ['pull', 'push', 'delete'] },
  { account: 'bob', name: 'bob/*', actions: ['pull', 'push'] },
  { account: 'bob', name: '*', actions: ['pull'] },
  { account: ANONYMOUS, name: '*', actions: ['pull'] },
];

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-e2e-auth-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

function configAuths(u: KilnUser): Record<string, { auth?: string }> {
  const path = join(u.dockerConfig, 'config.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { auths?: Record<string, { auth?: string }> }).auths ?? {} : {};
}

function assertNoSecret(r: KilnRun, reg: RunningRegistry, ...more: string[]): void {
  for (const secret of [...Object.values(reg.users), ...more]) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'a password shows in the output');
  }
  // A JWT (the token server's bearer tokens) starts with a base64url JSON header.
  assert.doesNotMatch(r.stdout + r.stderr, /eyJ[\w-]{8,}/, 'a token shows in the output');
  assert.doesNotMatch(r.stdout + r.stderr, /Basic [A-Za-z0-9+/=]{8,}|Bearer \S{8,}/, 'an Authorization header shows in the output');
}

async function login(reg: RunningRegistry, u: KilnUser, user: string, password: string): Promise<KilnRun> {
  return kiln(['login', ...regFlags(reg), '-u', user, '--password-stdin', reg.host], u.env, `${password}\n`);
}

const isToken = (m: RegistryMode): boolean => m === 'token' || m === 'tls-token';

describe('every registry configuration', { concurrency: true }, () => {
  for (const mode of REGISTRY_MODES) {
    describe(mode, () => {
      let reg: RunningRegistry;
      let pushed: PushedImage;
      before(async () => {
        reg = await startRegistry({ mode, ...(isToken(mode) ? { access: ACCESS } : {}) });
        pushed = await pushRandomImage(reg, 'peer/img:v1', { seed: 51, layers: 2 });
      });
      after(async () => {
        await reg?.stop();
      });

      test('login, pull and push', async () => {
        const u = newUser(work, mode);
        if (reg.needsAuth) {
          const r = await login(reg, u, 'alice', reg.users.alice!);
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stdout, /^Login Succeeded$/m);
          assertNoSecret(r, reg);
          assert.equal(Buffer.from(configAuths(u)[reg.host]?.auth ?? '', 'base64').toString('utf8'), `alice:${reg.users.alice}`);
        }
        const pull = await kilnOk(['pull', ...regFlags(reg), `${reg.host}/peer/img:v1`], u.env);
        assert.match(pull.stdout, new RegExp(`^Digest: ${pushed.pushedDigest}$`, 'm'));
        const push = await kilnOk(['push', ...regFlags(reg), `${reg.host}/peer/img:v1`, `${reg.host}/kiln/copy:v1`], u.env);
        assert.match(push.stdout, new RegExp(`^v1: digest: ${pushed.pushedDigest} size: \\d+$`, 'm'));
        assert.equal(sha256Of(await skopeoInspect(reg, 'kiln/copy:v1', { raw: true })), pushed.pushedDigest);
        for (const r of [pull, push]) assertNoSecret(r, reg);
      });

      if (mode === 'basic' || mode === 'token') {
        test('wrong credentials are refused and nothing is saved', async () => {
          const u = newUser(work, mode);
          const r = await login(reg, u, 'alice', 'not-the-password');
          assertOneError(r, 'UNAUTHORIZED', literal(reg.host));
          assertNoSecret(r, reg, 'not-the-password');
          assert.deepEqual(configAuths(u), {});
        });
      }

      if (mode === 'token') {
        test('a token for one repository does not let a user push to another', async () => {
          const u = newUser(work, mode);
          assert.equal((await login(reg, u, 'bob', reg.users.bob!)).status, 0);
          await kilnOk(['copy', `docker://${reg.host}/peer/img:v1`, `docker://${reg.host}/bob/img:v1`], u.env);
          const r = await kiln(['copy', `docker://${reg.host}/peer/img:v1`, `docker://${reg.host}/alice/img:v1`], u.env);
          assertOneError(r, /^ERROR: (UNAUTHORIZED|DENIED): /, literal(`${reg.host}/alice/img`), /push of/);
          assertNoSecret(r, reg);
          const anonymous = await kiln(['copy', `docker://${reg.host}/peer/img:v1`, `docker://${reg.host}/anon/img:v1`], newUser(work, mode).env);
          assertOneError(anonymous, /^ERROR: (UNAUTHORIZED|DENIED): /, literal(`${reg.host}/anon/img`));
        });
      }

      if (mode === 'tls') {
        test('without its CA a TLS registry is refused, unless named with --insecure-registry', async () => {
          const u = newUser(work, mode);
          assertOneError(await kiln(['pull', `${reg.host}/peer/img:v1`], u.env), 'REGISTRY_TLS', literal(`${reg.host}/peer/img:v1`));
          const r = await kilnOk(['pull', '--insecure-registry', reg.host, `${reg.host}/peer/img:v1`], u.env);
          assert.match(r.stdout, new RegExp(`^Digest: ${pushed.pushedDigest}$`, 'm'));
        });
      }

      if (mode === 'basic') {
        test('logout forgets the credentials', async () => {
          const u = newUser(work, mode);
          assert.equal((await login(reg, u, 'alice', reg.users.alice!)).status, 0);
          const out = await kilnOk(['logout', reg.host], u.env);
          assert.match(out.stdout, literal(`Removing login credentials for ${reg.host}`));
          assert.deepEqual(configAuths(u), {});
          assertOneError(await kiln(['pull', `${reg.host}/peer/img:v1`], u.env), 'UNAUTHORIZED', literal(`${reg.host}/peer/img:v1`));
        });
      }
    });
  }
});
