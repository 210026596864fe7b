/**
 * Docker's credential configuration: config.json read and written in
 * docker's format (checked with python3's json/base64 and with skopeo,
 * which reads and writes the same format), and credential helpers through
 * a fake `docker-credential-test` written by the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { CredentialStore } from '../../lib/registry/credential-store.ts';
import { RegistryClient } from '../../lib/registry/registry-client.ts';
import { RegistryError } from '../../lib/registry/registry-error.ts';
import { parseRef } from '../../lib/ref/index.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { pushRandomImage } from '../helpers/registry-images.ts';

let root: string;
let reg: RunningRegistry;
let helperDir: string;

// The fake helper keeps its store in $FAKE_STORE/<hex of server URL>.
const HELPER = `#!/bin/sh
set -e
input=$(cat)
case "$1" in
get)
  key=$(printf %s "$input" | od -An -tx1 | tr -d ' \\n')
  if [ "$input" = "fail.example" ]; then echo "backend exploded: token=SECRET-IN-HELPER-OUTPUT" >&2; exit 3; fi
  if [ -f "$FAKE_STORE/$key" ]; then cat "$FAKE_STORE/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
  url=$(printf %s "$input" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ServerURL"], end="")')
  key=$(printf %s "$url" | od -An -tx1 | tr -d ' \\n')
  printf %s "$input" > "$FAKE_STORE/$key" ;;
erase)
  key=$(printf %s "$input" | od -An -tx1 | tr -d ' \\n')
  if [ -f "$FAKE_STORE/$key" ]; then rm "$FAKE_STORE/$key"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'kiln-creds-'));
  helperDir = join(root, 'bin');
  execFileSync('mkdir', ['-p', helperDir, join(root, 'store')]);
  writeFileSync(join(helperDir, 'docker-credential-test'), HELPER);
  chmodSync(join(helperDir, 'docker-credential-test'), 0o755);
  reg = await startRegistry({ mode: 'basic' });
  await pushRandomImage(reg, 'creds/app:v1', { seed: 11 });
});

after(async () => {
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function freshDir(config?: unknown): string {
  const dir = join(root, `cfg${n++}`);
  execFileSync('mkdir', ['-p', dir]);
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${helperDir}:${process.env.PATH}`, FAKE_STORE: join(root, 'store') });
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('auths: base64 user:password under any of docker\'s key spellings', async () => {
  const dir = freshDir({ auths: { 'https://127.0.0.1:5000/v1/': { auth: b64('alice:pa:ss') }, 'https://index.docker.io/v1/': { auth: b64('hub:hubpw') } } });
  const store = new CredentialStore({ configDir: dir });
  assert.deepEqual(await store.get('127.0.0.1:5000'), { kind: 'basic', username: 'alice', password: 'pa:ss' });
  assert.deepEqual(await store.get('docker.io'), { kind: 'basic', username: 'hub', password: 'hubpw' });
  assert.equal(await store.get('ghcr.io'), undefined);
});

test('auths: identitytoken becomes an identity-token credential', async () => {
  const dir = freshDir({ auths: { 'r.example': { auth: b64('bob:'), identitytoken: 'refresh-123' } } });
  assert.deepEqual(await new CredentialStore({ configDir: dir }).get('r.example'), { kind: 'identity-token', username: 'bob', identityToken: 'refresh-123' });
});

test('DOCKER_CONFIG names the folder; a missing file means no credentials; bad JSON is DOCKER_CONFIG_INVALID without its content', async () => {
  const dir = freshDir();
  const store = new CredentialStore({ env: { DOCKER_CONFIG: dir } });
  assert.equal(store.path, join(dir, 'config.json'));
  assert.equal(await store.get('r.example'), undefined);
  writeFileSync(join(dir, 'config.json'), '{"auths": {"r.example": {"auth": "c2VjcmV0LWluLWJyb2tlbi1maWxl"}');
  await assert.rejects(store.get('r.example'), (e: unknown) => e instanceof RegistryError && e.code === 'DOCKER_CONFIG_INVALID' && !inspect(e).includes('c2VjcmV0'));
});

test('login writes docker\'s format atomically with mode 0600, keeping other keys; logout removes every spelling', async () => {
  const dir = freshDir({ HttpHeaders: { 'X-Meta': '1' }, auths: { 'https://r.example': { auth: b64('old:old') } } });
  const store = new CredentialStore({ configDir: dir });
  const res = await store.login('r.example', 'alice', 'alice-pw');
  assert.deepEqual(res, { key: 'r.example', helper: undefined });
  await store.login('docker.io', 'hubuser', 'hubpw');
  const file = join(dir, 'config.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['config.json'], 'no temp file left behind');
  // Independent reading: python's json and base64.
  const py = execFileSync('python3', ['-c', `
import json, base64, sys
c = json.load(open(sys.argv[1]))
print(json.dumps({k: base64.b64decode(v["auth"]).decode() for k, v in c["auths"].items()}, sort_keys=True))
print(json.dumps(c["HttpHeaders"]))
print("\\t" in open(sys.argv[1]).read())`, file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(JSON.parse(py[0]!), { 'https://index.docker.io/v1/': 'hubuser:hubpw', 'https://r.example': 'old:old', 'r.example': 'alice:alice-pw' });
  assert.deepEqual(JSON.parse(py[1]!), { 'X-Meta': '1' });
  assert.equal(py[2], 'True', 'tab-indented like docker');
  assert.equal(await store.logout('r.example'), true);
  const after = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, unknown> };
  assert.deepEqual(Object.keys(after.auths), ['https://index.docker.io/v1/']);
  assert.equal(await store.logout('r.example'), false);
});

test('login through a symlinked config.json replaces the link target, not the link', async () => {
  const dir = freshDir();
  const real = join(root, `real-config-${n}.json`);
  writeFileSync(real, '{}');
  symlinkSync(real, join(dir, 'config.json'));
  await new CredentialStore({ configDir: dir }).login('r.example', 'u', 'p');
  assert.ok(statSync(join(dir, 'config.json'), { throwIfNoEntry: true }).isFile());
  assert.match(readFileSync(real, 'utf8'), /"r\.example"/);
});

test('credsStore: login stores through the helper and leaves an empty auths entry; get and logout use it', async () => {
  const dir = freshDir({ credsStore: 'test' });
  const store = new CredentialStore({ configDir: dir, env: env() });
  await store.login(reg.host, 'alice', 'alice-secret');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown;
  assert.deepEqual(config, { credsStore: 'test', auths: { [reg.host]: {} } });
  assert.ok(!readFileSync(join(dir, 'config.json'), 'utf8').includes('alice-secret'));
  assert.deepEqual(await store.get(reg.host), { kind: 'basic', username: 'alice', password: 'alice-secret' });
  // The client pulls with what the helper returns.
  const client = new RegistryClient({ credentials: store });
  try {
    const m = await client.getManifest(parseRef(`${reg.host}/creds/app:v1`));
    assert.ok(m.bytes.length > 0);
  } finally {
    await client.close();
  }
  assert.equal(await store.logout(reg.host), true);
  assert.equal(await store.get(reg.host), undefined);
});

test('credHelpers wins over credsStore and auths for its registry; "<token>" means an identity token', async () => {
  const storeDir = join(root, 'store');
  const hex = Buffer.from('r.example').toString('hex');
  writeFileSync(join(storeDir, hex), JSON.stringify({ ServerURL: 'r.example', Username: '<token>', Secret: 'refresh-xyz' }));
  const dir = freshDir({ credsStore: 'missing-helper', credHelpers: { 'r.example': 'test' }, auths: { 'r.example': { auth: b64('file:file') } } });
  const store = new CredentialStore({ configDir: dir, env: env() });
  assert.deepEqual(await store.get('r.example'), { kind: 'identity-token', username: undefined, identityToken: 'refresh-xyz' });
  // Not found in the helper: the auths entry is used.
  const dir2 = freshDir({ credHelpers: { 'other.example': 'test' }, auths: { 'other.example': { auth: b64('file:filepw') } } });
  assert.deepEqual(await new CredentialStore({ configDir: dir2, env: env() }).get('other.example'), { kind: 'basic', username: 'file', password: 'filepw' });
});

test('a failing or missing helper is CREDENTIAL_HELPER_FAILED, with its output redacted', async () => {
  const dir = freshDir({ credHelpers: { 'fail.example': 'test', 'gone.example': 'does-not-exist' } });
  const store = new CredentialStore({ configDir: dir, env: env() });
  await assert.rejects(store.get('fail.example'), (e: unknown) => {
    assert.ok(e instanceof RegistryError && e.code === 'CREDENTIAL_HELPER_FAILED', String(e));
    assert.match(e.message, /docker-credential-test get failed: exit status 3/);
    assert.ok(!inspect(e, { depth: 10 }).includes('SECRET-IN-HELPER-OUTPUT'));
    return true;
  });
  await assert.rejects(store.get('gone.example'), /docker-credential-does-not-exist not found on PATH/);
});

test('skopeo reads what login wrote, and kiln reads what skopeo login wrote', async () => {
  const dir = freshDir();
  const file = join(dir, 'config.json');
  await new CredentialStore({ configDir: dir }).login(reg.host, 'alice', 'alice-secret');
  const out = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--authfile', file, `docker://${reg.host}/creds/app:v1`], { encoding: 'utf8' });
  assert.match(out, /"Digest"/);
  const dir2 = freshDir();
  const file2 = join(dir2, 'config.json');
  execFileSync('skopeo', ['login', '--tls-verify=false', '--authfile', file2, '-u', 'bob', '--password-stdin', reg.host], { input: 'bob-secret\n', encoding: 'utf8' });
  assert.ok(existsSync(file2));
  assert.deepEqual(await new CredentialStore({ configDir: dir2 }).get(reg.host), { kind: 'basic', username: 'bob', password: 'bob-secret' });
  // And skopeo logout understands the file kiln wrote.
  execFileSync('skopeo', ['logout', '--authfile', file, reg.host], { encoding: 'utf8' });
  assert.equal(await new CredentialStore({ configDir: dir }).get(reg.host), undefined);
});
