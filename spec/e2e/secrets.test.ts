/**
 * Secrets never leak (issue 9): a build that uses a build secret (as a file
 * and as an environment variable), a failing RUN that uses it, and a push
 * to a registry that needs a password — then every artifact is searched for
 * the secret's value and the password (also base64-encoded, as an
 * Authorization header would carry it): both runs' output, the OCI archive
 * written (every blob decompressed), --metadata-file, --iidfile, and every
 * file under $KILN_HOME (blobs decompressed, cache entries, temp files).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadBaseImages } from '../helpers/base-images.ts';
import { tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type KilnRun, kiln, kilnOk, newUser } from './registry-kit.ts';

const SECRET = 'S3CR3T-value-8f2c1e7d';
const PASSWORD = 'alice-secret';
const tmp = tempDir('kiln-secrets-');
let reg: RunningRegistry;
let user: ReturnType<typeof newUser>;

before(async () => {
  reg = await startRegistry({ mode: 'basic' });
  user = newUser(tmp.dir);
  await loadBaseImages(user.home);
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

/** Every form the secrets could take in an artifact. */
const NEEDLES = [SECRET, PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64'), Buffer.from(SECRET).toString('base64')];

/** The bytes of every file under `dir`, gzip blobs decompressed (tar members are plain inside). */
function* filesUnder(dir: string): Generator<{ path: string; bytes: Buffer }> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isDirectory()) yield* filesUnder(path);
    else if (st.isFile()) {
      let bytes = readFileSync(path);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
      yield { path, bytes };
    }
  }
}

function assertClean(what: string, bytes: Buffer | string): void {
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
  for (const n of NEEDLES) assert.ok(!text.includes(n), `${what} contains ${JSON.stringify(n)}`);
}

test('a build with a secret and a password-protected push leaves neither anywhere', async () => {
  const ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  const secretFile = join(tmp.dir, 'tok.txt');
  writeFileSync(secretFile, SECRET);
  writeFileSync(join(ctx, 'Dockerfile'), [
    'FROM busybox:latest',
    'RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /length',
    'RUN --mount=type=secret,id=tok,env=TOK test -n "$TOK" && echo "the token has ${#TOK} characters" > /env-length',
    'ARG NOTE=plain',
    'RUN echo "$NOTE" > /note',
    '',
  ].join('\n'));
  await kilnOk(['login', '-u', 'alice', '--password-stdin', reg.host], user.env, PASSWORD);
  const out = join(tmp.dir, 'image.oci.tar');
  const meta = join(tmp.dir, 'meta.json');
  const iid = join(tmp.dir, 'iid');
  const runs: KilnRun[] = [];
  runs.push(await kilnOk(['build', '--progress=plain', '--secret', `id=tok,src=${secretFile}`, '--metadata-file', meta, '--iidfile', iid, '-o', `type=oci,dest=${out}`, '--push', '-t', `${reg.host}/sec/app:1`, ctx], user.env));
  // the same build again (cache hits), and one whose RUN fails while it holds the secret
  runs.push(await kilnOk(['build', '--progress=plain', '--secret', `id=tok,src=${secretFile}`, ctx], user.env));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN --mount=type=secret,id=tok,env=TOK test "$TOK" = something-else\n');
  const failed = await kiln(['build', '--progress=plain', '--secret', `id=tok,env=KILN_TEST_TOKEN`, ctx], { ...user.env, KILN_TEST_TOKEN: SECRET });
  assert.notEqual(failed.status, 0, 'the RUN fails');
  runs.push(failed);
  for (const [i, r] of runs.entries()) {
    assertClean(`run ${i} stdout`, r.stdout);
    assertClean(`run ${i} stderr`, r.stderr);
  }
  assert.match(runs[0]!.stderr, /#push \S+sec\/app:1 manifest sha256:/, 'the push happened');
  // the image did get what the secret allowed: its length, not its value
  const root = join(tmp.dir, 'rootfs');
  mkdirSync(root);
  execFileSync('tar', ['-xf', out, '-C', root]);
  let files = 0;
  for (const f of filesUnder(root)) {
    files++;
    assertClean(`the OCI archive's ${f.path}`, f.bytes);
  }
  assert.ok(files >= 5, 'the archive was searched');
  assert.ok([...filesUnder(root)].some((f) => f.bytes.toString('latin1').includes(`${SECRET.length}\n`)), 'a layer holds the secret\'s length');
  assertClean('--metadata-file', readFileSync(meta));
  assertClean('--iidfile', readFileSync(iid));
  let homeFiles = 0;
  for (const f of filesUnder(user.home)) {
    homeFiles++;
    assertClean(`$KILN_HOME ${f.path}`, f.bytes);
  }
  assert.ok(homeFiles > 10, 'the store was searched');
});
