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

  test('reproducible: with SOURCE_DATE_EPOCH, two builds under another umask, TZ, locale, path and mtimes give one digest', () => {
    const r = runKiln(['build', '-q', '--check-reproducible', '.'], { env: { KILN_HOME: home, SOURCE_DATE_EPOCH: '1700000000' }, cwd: seed, umask: '077' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('the base image\'s layers are passed through byte for byte (sha256sum of the exported blobs)', () => {
    const layout = (name: string): { dir: string; layers: string[] } => {
      const dir = join(tmp.dir, `${name.replace(/[/:]/g, '-')}.oci`);
      kiln(['copy', name, `oci:${dir}`]);
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      return { dir, layers: manifest.layers.map((l) => l.digest) };
    };
    const base = layout('alpine:latest');
    const app = layout('go/helloworld:3');
    assert.ok(base.layers.length >= 1 && app.layers.length > base.layers.length);
    for (const [i, digest] of base.layers.entries()) {
      assert.equal(app.layers[i], digest, `layer ${i}`);
      const sum = spawnSync('sha256sum', [join(app.dir, 'blobs', 'sha256', digest.slice(7))], { encoding: 'utf8' }).stdout.split(' ')[0];
      assert.equal(`sha256:${sum}`, digest, `layer ${i}: the blob's bytes hash to the base's digest`);
    }
  });
});
