/**
 * The build cache through the real CLI: `#N CACHED` on a rebuild, a no-op
 * rebuild that opens no context file (checked with strace), --no-cache,
 * `kiln rmi` and `kiln prune` (checked against the store's files and with
 * skopeo), and the seed's multi-stage build rebuilt with and without a change.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBaseImages } from '../helpers/base-images.ts';
import { KILN, runKiln, TOP, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-e2e-cache-');
after(() => tmp.cleanup());
const EPOCH_ENV = { SOURCE_DATE_EPOCH: '1700000000' };

function kiln(home: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; status?: number } = {}) {
  const r = runKiln(args, { env: { KILN_HOME: home, ...opts.env }, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  assert.equal(r.status, opts.status ?? 0, `kiln ${args.join(' ')}: ${r.stderr}`);
  return r;
}

function context(name: string, files: Record<string, string>): string {
  const dir = join(tmp.dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** The blob files of a store: name → size. */
function blobs(home: string): Map<string, number> {
  const dir = join(home, 'blobs', 'sha256');
  return new Map(readdirSync(dir).map((n) => [n, statSync(join(dir, n)).size]));
}

/** Context files a kiln run opened, from an strace log of openat calls. */
function openedUnder(dir: string, args: string[], home: string): string[] {
  const log = join(tmp.dir, `strace-${Date.now()}.log`);
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,open', '-o', log, process.execPath, KILN, ...args], { env: { ...process.env, KILN_HOME: home, ...EPOCH_ENV }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const opened = new Set<string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", ([A-Z_|]+)/.exec(line);
    if (m && m[1]!.startsWith(`${dir}/`) && !m[2]!.includes('O_DIRECTORY') && !/= -1/.test(line)) opened.add(m[1]!.slice(dir.length + 1));
  }
  return [...opened].sort();
}

describe('the build cache from the command line', () => {
  test('a rebuild prints CACHED for every step and packs no layer; --no-cache runs them all', () => {
    const home = join(tmp.dir, 'home-cli');
    const ctx = context('cli', { Dockerfile: 'FROM scratch\nENV A=1\nCOPY a.txt /a\nCMD ["/a"]\n', 'a.txt': 'a' });
    const first = kiln(home, ['build', '-t', 'c:1', ctx], { env: EPOCH_ENV });
    assert.doesNotMatch(first.stderr, /CACHED/);
    const second = kiln(home, ['build', '-t', 'c:1', ctx], { env: EPOCH_ENV });
    assert.deepEqual(second.stderr.match(/^#\d+ (CACHED|DONE.*)$/gm), ['#1 CACHED', '#2 CACHED', '#3 CACHED']);
    assert.doesNotMatch(second.stderr, /layer [0-9a-f]{12}/);
    const forced = kiln(home, ['build', '--no-cache', '-t', 'c:1', ctx], { env: EPOCH_ENV });
    assert.doesNotMatch(forced.stderr, /CACHED/);
    assert.match(forced.stderr, /layer [0-9a-f]{12}/);
    const filtered = kiln(home, ['build', '--no-cache-filter', 'stage-9', '-t', 'c:1', ctx], { env: EPOCH_ENV });
    assert.equal(filtered.stderr.match(/CACHED/g)?.length, 3, 'a filter naming no stage of the build changes nothing');
  });

  test('a no-op rebuild opens no context file (strace); a partial one opens only the changed file', { skip: spawnSync('strace', ['-V']).status !== 0 && 'strace is not installed' }, () => {
    const home = join(tmp.dir, 'home-strace');
    const ctx = context('strace', { Dockerfile: 'FROM scratch\nCOPY one.txt /one\nCOPY two.txt /two\n', 'one.txt': 'one', 'two.txt': 'two' });
    for (const f of ['one.txt', 'two.txt']) spawnSync('touch', ['-d', '2022-01-01', join(ctx, f)]);
    assert.deepEqual(openedUnder(ctx, ['build', '-q', ctx], home), ['Dockerfile', 'one.txt', 'two.txt'], 'the first build reads them');
    assert.deepEqual(openedUnder(ctx, ['build', '-q', ctx], home), ['Dockerfile']);
    writeFileSync(join(ctx, 'two.txt'), 'TWO');
    spawnSync('touch', ['-d', '2022-01-01', join(ctx, 'two.txt')]);
    assert.deepEqual(openedUnder(ctx, ['build', '-q', ctx], home), ['Dockerfile', 'two.txt']);
  });
});

describe('kiln rmi and kiln prune', () => {
  const home = join(tmp.dir, 'home-prune');
  const x = context('x', { Dockerfile: 'FROM scratch\nCOPY x.txt /x\n', 'x.txt': 'x'.repeat(5000) });
  const y = context('y', { Dockerfile: 'FROM scratch\nCOPY y.txt /y\nCOPY y2.txt /y2\n', 'y.txt': 'y'.repeat(7000), 'y2.txt': 'why' });

  test('rmi untags; prune keeps what tagged images and the cache need and reports the bytes it freed; prune --all clears the cache', () => {
    kiln(home, ['build', '-q', '-t', 'x:1', x], { env: EPOCH_ENV });
    const yId = kiln(home, ['build', '-q', '-t', 'y:1', '-t', 'y:2', y], { env: EPOCH_ENV }).stdout.trim();
    const conflict = kiln(home, ['rmi', yId.slice(7, 19)], { status: 1 });
    assert.match(conflict.stderr, /must be forced\) - image is referenced in multiple repositories/);
    assert.equal(kiln(home, ['rmi', 'y:2']).stdout, 'Untagged: y:2\n');
    assert.equal(kiln(home, ['rmi', 'y:1']).stdout, `Untagged: y:1\nDeleted: ${yId}\n`);
    assert.match(kiln(home, ['rmi', 'nope:1'], { status: 1 }).stderr, /No such image: nope:1/);
    assert.doesNotMatch(kiln(home, ['images']).stdout, /^y /m);

    const before = blobs(home);
    const pruned = kiln(home, ['prune']);
    const after = blobs(home);
    const gone = [...before.keys()].filter((b) => !after.has(b));
    assert.equal(gone.length, 2, 'y\'s manifest and config: its layers are still the cache\'s');
    assertReclaimed(pruned.stdout, gone.reduce((s, b) => s + before.get(b)!, 0));
    copyOut(home, 'docker.io/library/x:1');
    assert.match(kiln(home, ['build', '-t', 'y:1', y], { env: EPOCH_ENV }).stderr, /#1 CACHED\n[\s\S]*#2 CACHED/, 'the cache still hits after prune');

    kiln(home, ['rmi', 'y:1']);
    const beforeAll = blobs(home);
    const cacheBytes = du(join(home, 'cache'));
    const all = kiln(home, ['prune', '--all']);
    const afterAll = blobs(home);
    const goneAll = [...beforeAll.keys()].filter((b) => !afterAll.has(b));
    assert.equal(goneAll.length, 4, 'y\'s manifest, config and two layers');
    assertReclaimed(all.stdout, goneAll.reduce((s, b) => s + beforeAll.get(b)!, 0) + cacheBytes - du(join(home, 'cache')));
    assert.equal(afterAll.size, 3, 'x: manifest, config, one layer');
    copyOut(home, 'docker.io/library/x:1');
    assert.doesNotMatch(kiln(home, ['build', '-t', 'x:1', x], { env: EPOCH_ENV }).stderr, /CACHED/, 'the cache is gone');
  });
});

/** "Total reclaimed space: 3.62kB" says `bytes` to its 3 significant digits (go-units decimal sizes). */
function assertReclaimed(stdout: string, bytes: number): void {
  const shown = reclaimed(stdout);
  const digits = Math.floor(Math.log10(Math.max(1, bytes)));
  const unit = 10 ** Math.max(0, digits - 2);
  assert.ok(Math.abs(shown - bytes) <= unit / 2, `shown ${shown}, freed ${bytes}`);
}

/** The byte count of "Total reclaimed space: 12.3kB" (go-units decimal sizes, 3 significant digits), as an exact value when the text allows it. */
function reclaimed(stdout: string): number {
  const m = /^Total reclaimed space: ([\d.]+)(B|kB|MB|GB)$/m.exec(stdout);
  assert.ok(m, stdout);
  return Math.round(Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B' | 'kB' | 'MB' | 'GB']);
}

/** Bytes of the files below `dir`, by `du -sb --apparent-size` of each file (0 when missing). */
function du(dir: string): number {
  if (!existsSync(dir)) return 0;
  const r = spawnSync('find', [dir, '-type', 'f', '-printf', '%s\\n'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).reduce((s, n) => s + Number(n), 0);
}

/** skopeo reads the whole image out of the store (every blob verified): proof that prune left it intact. */
function copyOut(home: string, name: string): void {
  const dest = join(tmp.dir, `copy-${Date.now()}`);
  const r = spawnSync('skopeo', ['copy', '--quiet', `oci:${home}:${name}`, `oci:${dest}:x`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('the seed rebuilt', () => {
  test('a no-op rebuild of the multi-stage seed is all CACHED, the same image, in a fraction of the time; a changed app.go rebuilds from its COPY on', async (t) => {
    const home = join(tmp.dir, 'home-seed');
    const seed = join(tmp.dir, 'seed');
    cpSync(join(TOP, 'testdata', 'seed'), seed, { recursive: true });
    await loadBaseImages(home);
    const timed = (args: string[]) => {
      const started = Date.now();
      const r = kiln(home, args, { cwd: seed });
      return { ...r, ms: Date.now() - started };
    };
    const first = timed(['build', '-t', 'go/helloworld:3', '--iidfile', 'iid1', '.']);
    const second = timed(['build', '-t', 'go/helloworld:3', '--iidfile', 'iid2', '.']);
    t.diagnostic(`seed: first build ${(first.ms / 1000).toFixed(1)} s, no-op rebuild ${(second.ms / 1000).toFixed(1)} s (whole kiln processes)`);
    assert.equal(second.stderr.match(/^#\d+ CACHED$/gm)?.length, 6);
    assert.doesNotMatch(second.stderr, /DONE/);
    assert.equal(readFileSync(join(seed, 'iid2'), 'utf8'), readFileSync(join(seed, 'iid1'), 'utf8'), 'the same image, even without SOURCE_DATE_EPOCH');
    assert.equal(kiln(home, ['run', 'go/helloworld:3']).stdout, 'Hello World!\n');

    writeFileSync(join(seed, 'app.go'), readFileSync(join(seed, 'app.go'), 'utf8').replace('Hello World!', 'Hello again!'));
    const third = timed(['build', '-t', 'go/helloworld:3', '.']);
    t.diagnostic(`seed: rebuild after changing app.go ${(third.ms / 1000).toFixed(1)} s`);
    const lines = third.stderr.match(/^#\d+ (CACHED|DONE)/gm);
    assert.deepEqual(lines, ['#1 CACHED', '#2 DONE', '#3 DONE', '#4 CACHED', '#5 DONE', '#6 DONE']);
    assert.equal(kiln(home, ['run', 'go/helloworld:3']).stdout, 'Hello again!\n');
  });
});
