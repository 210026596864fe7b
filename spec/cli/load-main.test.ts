/**
 * How the `kiln` command loads itself (cli/load-main.js): in a copy of the
 * checkout, the first run writes the bundle, its input record and, after
 * the run, V8's code cache; later runs use them as they are; an edited
 * source remakes the bundle; a damaged code cache is rejected by V8 and
 * written again; KILN_NO_BUNDLE=1 runs through tsx. Every run must print
 * the version of package.json (read here, not by kiln).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOP, tempDir } from '../helpers/kiln.ts';

const version = (JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string }).version;

function checkout(): { dir: string; cleanup: () => void } {
  const t = tempDir('kiln-load-main-');
  for (const part of ['cli', 'lib', 'package.json', 'tsconfig.json']) {
    cpSync(join(TOP, part), join(t.dir, part), { recursive: true, filter: (src) => !/\.main\.bundle\./.test(src) });
  }
  symlinkSync(join(TOP, 'node_modules'), join(t.dir, 'node_modules'));
  return t;
}

function kilnVersion(dir: string, env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync(process.execPath, [join(dir, 'cli', 'kiln.js'), '--version'], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `kiln version ${version}`);
}

const mtime = (path: string): number => statSync(path).mtimeMs;

/** A pull from a port nobody listens on: loads undici (a dynamic import in the bundle), then fails as the network does. */
function kilnPullNowhere(dir: string): void {
  const home = join(dir, 'home');
  const r = spawnSync(process.execPath, [join(dir, 'cli', 'kiln.js'), 'pull', '127.0.0.1:9/nobody/here:1'], { encoding: 'utf8', env: { ...process.env, KILN_HOME: home } });
  assert.equal(r.status, 1);
  assert.deepEqual(r.stderr.split('\n').filter((l) => l.startsWith('ERROR')).map((l) => l.split(':')[1]), [' REGISTRY_UNREACHABLE'], r.stderr);
  assert.doesNotMatch(r.stderr, /ERR_VM|Warning/);
}

test('bundle, code cache and their refresh', () => {
  const { dir, cleanup } = checkout();
  try {
    const bundle = join(dir, 'cli', '.main.bundle.cjs');
    const cache = join(dir, 'cli', '.main.bundle.v8');
    kilnVersion(dir);
    assert.ok(existsSync(bundle) && existsSync(join(dir, 'cli', '.main.bundle.json')) && existsSync(cache));
    const [b1, c1] = [mtime(bundle), mtime(cache)];
    kilnVersion(dir);
    assert.deepEqual([mtime(bundle), mtime(cache)], [b1, c1], 'a current bundle and an accepted cache are left alone');
    // Code loaded on demand works from the cache too (Node 20's cached scripts have no import() hook).
    kilnPullNowhere(dir);
    kilnPullNowhere(dir);
    // A damaged cache: V8 rejects it, the run goes on, and the cache is written again.
    writeFileSync(cache, Buffer.alloc(4096, 7));
    kilnVersion(dir);
    assert.notDeepEqual(readFileSync(cache), Buffer.alloc(4096, 7));
    // An edited source: the bundle is made again.
    appendFileSync(join(dir, 'lib', 'index.ts'), '\n// edited\n');
    kilnVersion(dir);
    assert.notEqual(mtime(bundle), b1);
    kilnVersion(dir, { KILN_NO_BUNDLE: '1' });
  } finally {
    cleanup();
  }
});
