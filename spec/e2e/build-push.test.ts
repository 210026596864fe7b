/**
 * `kiln build --push` and `-o type=image,name=…,push=true` (issue 6): every
 * name is pushed to the real registry, the pushed manifest is the one built
 * (checked with skopeo), and `--progress` modes. Bad pushes fail before
 * anything is built, or with one clear error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/kiln.ts';
import { freePort, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { skopeoInspect } from '../helpers/skopeo.ts';
import { assertOneError, kiln, kilnOk, newUser, storeEntries } from './registry-kit.ts';

const tmp = tempDir('kiln-buildpush-');
let reg: RunningRegistry;
let ctx: string;

before(async () => {
  reg = await startRegistry({ mode: 'open' });
  ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'hello.txt'), 'hello from a pushed build\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello"]\n');
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

function built(metadataFile: string): { digest: string; config: string } {
  const m = JSON.parse(readFileSync(metadataFile, 'utf8')) as Record<string, string>;
  return { digest: m['containerimage.digest']!, config: m['containerimage.config.digest']! };
}

test('--push sends every -t name to its registry; skopeo reads the manifest that was built', async () => {
  const u = newUser(tmp.dir);
  const meta = join(tmp.dir, 'push-meta.json');
  const r = await kilnOk(['build', '--progress=plain', '--push', '--metadata-file', meta, '-t', `${reg.host}/app/one:1`, '-t', `${reg.host}/app/one:latest`, '-t', `${reg.host}/app/two:v2`, ctx], u.env);
  const { digest, config } = built(meta);
  for (const name of ['app/one:1', 'app/one:latest', 'app/two:v2']) {
    const raw = await skopeoInspect(reg, name, { raw: true });
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, digest, name);
    const cfg = JSON.parse(await skopeoInspect(reg, name, { config: true })) as { config: { Cmd: string[] } };
    assert.deepEqual(cfg.config.Cmd, ['/hello']);
    assert.match(r.stderr, new RegExp(`#push 127\\.0\\.0\\.1:\\d+/${name.replace(/[.:/]/g, '\\$&')} manifest ${digest} done`));
    assert.match(r.stderr, new RegExp(`pushed 127\\.0\\.0\\.1:\\d+/${name.replace(/[.:/]/g, '\\$&')}@${digest}`));
  }
  assert.match(r.stderr, /#push \S+ sha256:[0-9a-f]{12} \S+ pushed\n/, 'the layer upload is shown');
  assert.match(r.stderr, /#push \S+app\/two:v2 sha256:[0-9a-f]{12} \S+ mounted\n/, 'the second repository mounts the layer');
  assert.ok(storeEntries(u.home).some((e) => e.annotations?.['org.opencontainers.image.ref.name']?.endsWith('/app/one:1')), 'the image is in the local store too');
  assert.ok(config.startsWith('sha256:'));
});

test('-o type=image,name=…,push=true pushes that name; type=registry is the same', async () => {
  const u = newUser(tmp.dir);
  const meta = join(tmp.dir, 'image-meta.json');
  await kilnOk(['build', '-q', '--metadata-file', meta, '-o', `type=image,name=${reg.host}/app/three:3,push=true`, ctx], u.env);
  const { digest } = built(meta);
  assert.equal(JSON.parse(await skopeoInspect(reg, 'app/three:3')).Digest, digest);
  await kilnOk(['build', '-q', '-o', `type=registry,name=${reg.host}/app/four:4`, ctx], u.env);
  assert.equal(JSON.parse(await skopeoInspect(reg, 'app/four:4')).Digest, digest, 'the same build gives the same image');
  // without push, type=image only names it locally
  await kilnOk(['build', '-q', '-o', `type=image,name=${reg.host}/app/five:5`, ctx], u.env);
  assert.ok(storeEntries(u.home).some((e) => e.annotations?.['org.opencontainers.image.ref.name']?.endsWith('/app/five:5')));
  await assert.rejects(skopeoInspect(reg, 'app/five:5'));
});

test('--push without a name fails before building; an unreachable registry fails with one error', async () => {
  const u = newUser(tmp.dir);
  const r = await kiln(['build', '--push', ctx], u.env);
  assertOneError(r, 'PUSH_NO_NAME', /-t NAME/);
  assert.equal(existsSync(join(u.home, 'index.json')) ? storeEntries(u.home).length : 0, 0, 'nothing was built or stored');
  const gone = `127.0.0.1:${await freePort()}`;
  const down = await kiln(['build', '--push', '-t', `${gone}/app/x:1`, ctx], u.env);
  assertOneError(down, /^ERROR: REGISTRY_UNREACHABLE: /, new RegExp(gone.replace(/[.:]/g, '\\$&')));
});

test('a registry that refuses the push (no credentials) fails the build with one clear error; no tag appears there', async () => {
  const locked = await startRegistry({ mode: 'basic' });
  try {
    const u = newUser(tmp.dir);
    const r = await kiln(['build', '--push', '-t', `${locked.host}/app/locked:1`, ctx], u.env);
    assertOneError(r, /^ERROR: UNAUTHORIZED: /, new RegExp(`${locked.host.replace(/[.:]/g, '\\$&')}/app/locked`));
    const tags = await fetch(`${locked.url}/v2/app/locked/tags/list`, { headers: { authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` } });
    assert.equal(tags.status, 404, 'the repository has no tag');
  } finally {
    await locked.stop();
  }
});

test('--progress: quiet prints the image ID only; plain prints steps; a bad mode is a usage error', async () => {
  const u = newUser(tmp.dir);
  const quiet = await kilnOk(['build', '--progress=quiet', ctx], u.env);
  assert.match(quiet.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(quiet.stderr, '');
  const plain = await kilnOk(['build', '--progress', 'plain', ctx], u.env);
  assert.match(plain.stderr, /^#1 \[stage-0 1\/2\] COPY hello\.txt \/hello\.txt\n#1 (CACHED|DONE \d+\.\d+s)\n/m);
  assert.doesNotMatch(plain.stderr, /\x1b\[/, 'plain mode writes no escape sequences');
  const bad = await kiln(['build', '--progress=fancy', ctx], u.env);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /invalid --progress "fancy"/);
});
