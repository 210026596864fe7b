/**
 * The seed's three ways of building go/helloworld (Docker's multi-stage
 * chapter), end to end through the real CLI, with base images built offline
 * from Debian packages: each image runs and prints Hello World!, images 2 and
 * 3 hold the same binary and are small, --target builder builds the builder only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBaseImages } from '../helpers/base-images.ts';
import { KILN, runKiln, TOP, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-seed-');
const home = join(tmp.dir, 'home');
const seed = join(tmp.dir, 'seed');
after(() => tmp.cleanup());

const kiln = (args: string[]) => {
  const r = runKiln(args, { env: { KILN_HOME: home }, cwd: seed });
  assert.equal(r.status, 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  return r;
};
const binary = (image: string, name: string): string => {
  const dest = join(tmp.dir, name);
  kiln(['cp', `${image}:/root/app`, dest]);
  return createHash('sha256').update(readFileSync(dest)).digest('hex');
};

describe('the seed: go/helloworld three ways', () => {
  before(async () => {
    cpSync(join(TOP, 'testdata', 'seed'), seed, { recursive: true });
    await loadBaseImages(home);
  });

  test('1: everything in one image', () => {
    kiln(['build', '-q', '-t', 'go/helloworld:1', '-f', 'Dockerfile.one', '.']);
    assert.equal(kiln(['run', 'go/helloworld:1']).stdout, 'Hello World!\n');
  });

  test('2: the builder pattern with build.sh and kiln cp', () => {
    const r = spawnSync('sh', ['build.sh'], { cwd: seed, env: { ...process.env, KILN_HOME: home, KILN: `${process.execPath} ${KILN}` }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(kiln(['run', 'go/helloworld:2']).stdout, 'Hello World!\n');
  });

  test('3: the multi-stage Dockerfile; same binary as 2; both small next to 1', () => {
    kiln(['build', '-q', '-t', 'go/helloworld:3', '.']);
    assert.equal(kiln(['run', 'go/helloworld:3']).stdout, 'Hello World!\n');
    assert.equal(binary('go/helloworld:3', 'app3'), binary('go/helloworld:2', 'app2'));
    const sizes = new Map(kiln(['images']).stdout.trim().split('\n').slice(1).map((l) => l.split(/\s{3,}/)).map((c) => [`${c[0]}:${c[1]}`, c[4]!]));
    assert.equal(sizes.get('go/helloworld:2'), sizes.get('go/helloworld:3'));
    assert.match(sizes.get('go/helloworld:3')!, /^\d+(\.\d+)?MB$/);
    assert.match(sizes.get('go/helloworld:1')!, /^\d{3}MB$/, 'image 1 holds the toolchain: hundreds of MB');
  });

  test('--target builder builds the builder stage only', () => {
    const r = kiln(['build', '--target', 'builder', '-t', 'go/helloworld:builder', '.']);
    assert.match(r.stderr, /\[builder \d\/\d\] RUN CGO_ENABLED=0/);
    assert.doesNotMatch(r.stderr, /\[prod /, 'the prod stage is not built');
    const inspect = JSON.parse(kiln(['inspect', 'go/helloworld:builder']).stdout);
    assert.equal(inspect.config.WorkingDir, '/go/src/github.com/go/helloworld');
  });
});
