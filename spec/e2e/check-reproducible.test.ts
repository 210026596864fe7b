/**
 * `kiln build --check-reproducible` (issue 8): two builds in fresh stores,
 * under another umask, time zone, locale, checkout path and file mtimes.
 * A build with RUN steps that create files and directories passes (so the
 * sandbox does not leak the umask into the image) and gives the digest a
 * plain `--reproducible` build gives; a RUN that writes the time fails,
 * naming the file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBaseImages } from '../helpers/base-images.ts';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-checkrepro-');
const home = join(tmp.dir, 'home');
const env = { KILN_HOME: home, SOURCE_DATE_EPOCH: '', KILN_REGISTRY_MIRRORS: '' };

function context(name: string, dockerfile: string): string {
  const dir = join(tmp.dir, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'app.txt'), 'the app\n');
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

before(async () => {
  await loadBaseImages(home);
});
after(() => tmp.cleanup());

test('a reproducible build passes, with the digest a --reproducible build gives, and leaves the store as it was', () => {
  const ctx = context('good', 'FROM busybox:latest\nCOPY src/ /app/\nRUN mkdir -p /data/deep/dir && echo hi > /data/deep/dir/f && ln -s f /data/deep/dir/l && chmod 640 /app/app.txt\nRUN touch /made\n');
  const storeBefore = readFileSync(join(home, 'index.json'), 'utf8');
  const check = runKiln(['build', '-q', '--check-reproducible', ctx], { env, umask: '027' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(readFileSync(join(home, 'index.json'), 'utf8'), storeBefore, 'nothing stored');
  const out = join(tmp.dir, 'good.oci');
  const plain = runKiln(['build', '-q', '--reproducible', '-o', `type=oci,dest=${out},tar=false`, ctx], { env });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest, check.stdout.trim());
});

test('a RUN that writes the time fails the check with NOT_REPRODUCIBLE, naming the layer and the file', () => {
  const ctx = context('bad', 'FROM busybox:latest\nCOPY src/ /app/\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n');
  const r = runKiln(['build', '--progress=plain', '--check-reproducible', ctx], { env });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ERROR: NOT_REPRODUCIBLE: two builds of the same inputs differ \(sha256:\w+ vs sha256:\w+\): layer 3 \(RUN \/bin\/sh -c cat \/proc\/sys\/kernel\/random\/uuid > \/stamp\): \/stamp: content sha256:\w+ vs sha256:\w+/);
});

test('--check-reproducible takes no outputs or tags', () => {
  const ctx = context('flags', 'FROM scratch\nCOPY src/ /\n');
  for (const flags of [['-t', 'x:1'], ['-o', `type=local,dest=${join(tmp.dir, 'o')}`], ['--push', '-t', '127.0.0.1:1/x:1']]) {
    const r = runKiln(['build', '--check-reproducible', ...flags, ctx], { env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--check-reproducible builds into temporary stores only/);
  }
});

test('--check-reproducible checks one platform: several --platform are refused before building', () => {
  const ctx = context('platforms', 'FROM scratch\nCOPY src/ /\n');
  const r = runKiln(['build', '--check-reproducible', '--platform', 'linux/amd64,linux/arm64', ctx], { env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--check-reproducible checks one platform's image: give one --platform/);
});
