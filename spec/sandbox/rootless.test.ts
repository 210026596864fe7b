/**
 * Rootless RUN: an unprivileged user (made here with useradd and
 * /etc/subuid, /etc/subgid ranges) runs rootless-script.ts with runuser,
 * once as itself (bubblewrap maps one id: chown fails, owners inferred) and
 * once re-executed by rootlessUserNamespace() as root of a user namespace
 * with its subordinate ids (chown works, USER keeps its own id).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxRootfs } from './busybox-kit.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TOP = resolve(HERE, '..', '..');
const USER = 'kilnrootless';
const isRoot = process.getuid?.() === 0;

interface Report {
  uid: number;
  backend: string;
  idMapping: string;
  stdout: string;
  f: { uid: number; gid: number; text: string } | null;
  g: { uid: number; gid: number; text: string } | null;
  failure?: string;
  workdir: [number, number];
}

function ensureUser(): void {
  if (spawnSync('id', [USER]).status !== 0) execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', USER]);
  for (const [file, flag] of [['/etc/subuid', '--add-subuids'], ['/etc/subgid', '--add-subgids']] as const) {
    if (!readFileSync(file, 'utf8').split('\n').some((l) => l.startsWith(`${USER}:`))) execFileSync('usermod', [flag, '300000-365535', USER]);
  }
}

function runAsUser(rootfs: string, prefix: readonly string[]): Report {
  const script = join(HERE, 'rootless-script.ts');
  const r = spawnSync('runuser', ['-u', USER, '--', ...prefix, process.execPath, '--import', 'tsx', script, rootfs], { cwd: TOP, encoding: 'utf8', env: { ...process.env, TMPDIR: '/tmp' } });
  assert.equal(r.status, 0, `the rootless script failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
}

describe('rootless RUN', { skip: !isRoot && 'needs root to create the unprivileged user' }, () => {
  let rootfs: string;
  before(async () => {
    ensureUser();
    const dir = mkdtempSync(join(tmpdir(), 'kiln-rootless-'));
    chmodSync(dir, 0o755);
    rootfs = join(dir, 'rootfs');
    cpSync(await busyboxRootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
    execFileSync('chown', ['-R', `${USER}:${USER}`, rootfs]);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  });

  test('one mapped id: root and USER run, chown fails, owners are inferred for the image', () => {
    const r = runAsUser(rootfs, []);
    assert.notEqual(r.uid, 0);
    assert.deepEqual([r.backend, r.idMapping], ['bwrap', 'single']);
    assert.equal(r.stdout.split('\n')[0], '0');
    assert.match(r.stdout, /chown-failed/);
    assert.match(r.stdout, /^1000$/m);
    assert.deepEqual(r.f, { uid: 0, gid: 0, text: 'made\n' });
    assert.deepEqual(r.g, { uid: 1000, gid: 1000, text: 'mine\n' });
    // a WORKDIR kiln creates is root's (as BuildKit's), what the USER makes is the user's
    assert.deepEqual(r.workdir, [0, 1000]);
    assert.equal(r.failure, 'RUN_FAILED');
  });

  test('re-executed in a user namespace with subordinate ids: chown works, USER cannot write root files', () => {
    const prefix = spawnSync('runuser', ['-u', USER, '--', process.execPath, '--import', 'tsx', '-e', "import('./lib/sandbox/index.ts').then((m) => console.log(JSON.stringify(m.rootlessUserNamespace() ?? null)))"], { cwd: TOP, encoding: 'utf8' });
    const argv = JSON.parse(prefix.stdout) as string[] | null;
    assert.ok(argv !== null, `no user namespace prefix: ${prefix.stderr}`);
    const r = runAsUser(rootfs, argv);
    assert.equal(r.uid, 0);
    assert.deepEqual([r.backend, r.idMapping], ['bwrap', 'host']);
    assert.match(r.stdout, /chowned/);
    assert.match(r.stdout, /passwd-denied/);
    assert.deepEqual(r.f, { uid: 5, gid: 6, text: 'made\n' });
    assert.deepEqual(r.g, { uid: 1000, gid: 1000, text: 'mine\n' });
    assert.deepEqual(r.workdir, [0, 1000]);
  });
});
