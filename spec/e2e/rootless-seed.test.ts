/**
 * Rootless: the seed's multi-stage build as an unprivileged user (made here
 * with useradd and /etc/subuid, /etc/subgid ranges), kiln run under runuser.
 * kiln re-runs itself in a user namespace mapping the user's subordinate ids,
 * so RUN can chown and the image keeps its owners.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBaseImages } from '../helpers/base-images.ts';
import { KILN, TOP, tempDir } from '../helpers/kiln.ts';

const USER = 'kilnrootless';
const tmp = tempDir('kiln-rootless-');
after(() => tmp.cleanup());

function ensureUser(): void {
  if (spawnSync('id', [USER]).status !== 0) execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
  for (const [file, flag] of [['/etc/subuid', '--add-subuids'], ['/etc/subgid', '--add-subgids']] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // no file yet: usermod creates it
    }
    if (!text.split('\n').some((l) => l.startsWith(`${USER}:`))) execFileSync('usermod', [flag, '165536-231071', USER]);
  }
}

let kilnBin = KILN;
const asUser = (args: string[], cwd: string) =>
  spawnSync('runuser', ['-u', USER, '--', 'env', `HOME=${tmp.dir}`, `KILN_HOME=${join(tmp.dir, 'home')}`, process.execPath, kilnBin, ...args], { cwd, encoding: 'utf8' });

/** The checkout may sit where the user cannot read it (CI clones as root): then install kiln for the user, as npm i -g would. */
function kilnForUser(): string {
  if (spawnSync('runuser', ['-u', USER, '--', 'test', '-r', KILN]).status === 0) return KILN;
  execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp.dir], { cwd: TOP });
  const tgz = readdirSync(tmp.dir).find((f) => f.endsWith('.tgz'))!;
  const prefix = join(tmp.dir, 'kiln-install');
  execFileSync('npm', ['install', '--global', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, join(tmp.dir, tgz)], { cwd: tmp.dir });
  return join(prefix, 'lib', 'node_modules', 'kiln', 'cli', 'kiln.js');
}

before(async () => {
  ensureUser();
  await loadBaseImages(join(tmp.dir, 'home'));
  cpSync(join(TOP, 'testdata', 'seed'), join(tmp.dir, 'seed'), { recursive: true });
  chmodSync(tmp.dir, 0o755);
  kilnBin = kilnForUser();
  execFileSync('chown', ['-R', `${USER}:`, tmp.dir]);
});

test('an unprivileged user builds and runs the seed multi-stage image', { skip: process.getuid?.() !== 0 ? 'needs root to create the user' : false }, () => {
  const built = asUser(['build', '-q', '-t', 'go/helloworld:3', '.'], join(tmp.dir, 'seed'));
  assert.equal(built.status, 0, built.stderr);
  const ran = asUser(['run', 'go/helloworld:3'], join(tmp.dir, 'seed'));
  assert.equal(ran.status, 0, ran.stderr);
  assert.equal(ran.stdout, 'Hello World!\n');
  const inspect = JSON.parse(asUser(['inspect', 'go/helloworld:3'], tmp.dir).stdout);
  assert.deepEqual(inspect.config.Cmd, ['./app']);
});
