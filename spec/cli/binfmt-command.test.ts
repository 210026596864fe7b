/**
 * `kiln binfmt`: the table, `--format json` (checked against the handler
 * files the kernel lists), `--install` output, usage and root errors, and
 * the table of a fresh binfmt_misc (user namespace, Linux ≥ 6.7) where
 * nothing foreign can run, with the one line that says what to do.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../cli/main.ts';
import { installBinfmt } from '../../lib/index.ts';
import { KILN } from '../helpers/kiln.ts';

const DIR = '/proc/sys/fs/binfmt_misc';
const isRoot = process.getuid?.() === 0;
const hasQemu = existsSync('/usr/bin/qemu-aarch64-static') && existsSync('/usr/lib/binfmt.d/qemu-aarch64.conf');
const FOREIGN = ['linux/arm64', 'linux/arm/v7', 'linux/arm/v6', 'linux/ppc64le', 'linux/s390x', 'linux/riscv64', 'linux/mips64le', 'linux/loong64'];

async function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await main(args, { out: (s) => (out += s), err: (s) => (err += s), env: { ...process.env } });
  return { status, out, err };
}

/** The table's rows as [platform, emulator]. */
function rows(out: string): string[][] {
  const lines = out.split('\n');
  const start = lines.findIndex((l) => l.startsWith('PLATFORM'));
  assert.ok(start >= 0, out);
  assert.match(lines[start]!, /^PLATFORM\s+EMULATOR$/);
  const body: string[][] = [];
  for (const l of lines.slice(start + 1)) {
    if (l === '') break;
    const m = /^(\S+)\s+(.+)$/.exec(l);
    assert.ok(m, l);
    body.push([m[1]!, m[2]!]);
  }
  return body;
}

describe('kiln binfmt with the emulators registered', { skip: (!isRoot && 'needs root') || (!hasQemu && 'needs qemu-user-static') || (process.arch !== 'x64' && 'expects an amd64 host') }, () => {
  before(() => {
    installBinfmt();
  });

  test('the table: native for amd64 and 386, the qemu handler for the others, nothing to fix', async () => {
    const r = await cli(['binfmt']);
    assert.equal(r.status, 0, r.err);
    const table = rows(r.out);
    assert.deepEqual(table.map((row) => row[0]), ['linux/amd64', 'linux/386', ...FOREIGN]);
    assert.deepEqual(table.slice(0, 2).map((row) => row[1]), ['native', 'native']);
    const aarch64 = readFileSync(join(DIR, 'qemu-aarch64'), 'utf8');
    const interpreter = /^interpreter (.*)$/m.exec(aarch64)![1];
    const flags = /^flags: (.*)$/m.exec(aarch64)![1];
    assert.equal(table[2]![1], `${interpreter} (qemu-aarch64, flags ${flags})`);
    assert.match(table[3]![1]!, /\(qemu-arm, flags \w*F\w*\)$/);
    assert.doesNotMatch(r.out, /missing|cannot execute/);
  });

  test('--format json: supported platforms and every handler the kernel lists', async () => {
    const r = await cli(['binfmt', '--format', 'json']);
    assert.equal(r.status, 0, r.err);
    const doc = JSON.parse(r.out) as { supported: string[]; emulators: string[] };
    assert.deepEqual(Object.keys(doc), ['supported', 'emulators']);
    assert.deepEqual(doc.supported, ['linux/amd64', 'linux/386', ...FOREIGN]);
    // spec/sandbox/binfmt.test.ts may add and remove a qemu-kilntest<pid> handler meanwhile.
    const steady = (names: string[]): string[] => names.filter((n) => !/^qemu-kilntest\d+$/.test(n));
    assert.deepEqual(steady(doc.emulators), steady(readdirSync(DIR).filter((n) => n !== 'register' && n !== 'status').sort()));
    assert.ok(doc.emulators.includes('qemu-aarch64'));
  });

  test('--install says what it did, then prints the table', async () => {
    const r = await cli(['binfmt', '--install']);
    assert.equal(r.status, 0, r.err);
    const first = r.out.split('\n')[0]!;
    assert.match(first, /^already registered: .*\bqemu-aarch64\b/);
    assert.equal(rows(r.out).length, 10);
  });
});

describe('kiln binfmt usage', () => {
  test('--help, and binfmt in kiln --help', async () => {
    const r = await cli(['binfmt', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.out, /^Usage: {2}kiln binfmt \[OPTIONS\]\n/);
    assert.match(r.out, /--install/);
    assert.match(r.out, /--uninstall/);
    assert.match((await cli(['--help'])).out, /\n {2}binfmt {6}\S/);
  });

  test('bad arguments are usage errors', async () => {
    for (const [args, message] of [
      [['binfmt', '--install', '--uninstall'], '--install and --uninstall cannot be used together'],
      [['binfmt', '--format', 'yaml'], 'invalid --format "yaml": table or json'],
      [['binfmt', 'arm64'], 'accepts no arguments, got 1'],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.status, 1);
      assert.equal(r.err, `kiln binfmt: ${message}\nSee 'kiln binfmt --help'.\n`);
    }
  });

  test('--install and --uninstall by a user who is not root: one ERROR line, exit 1', { skip: spawnSync('unshare', ['--user', 'true']).status !== 0 && 'needs user namespaces' }, () => {
    for (const flag of ['--install', '--uninstall']) {
      // Mapped to nobody in a user namespace of its own: not root, and nothing it could change.
      const r = spawnSync('unshare', ['--user', process.execPath, KILN, 'binfmt', flag], { encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^ERROR: BINFMT_NOT_ROOT: .* needs root .*: run \`sudo kiln binfmt ${flag}\`\\n$`));
    }
  });
});

/** `kiln binfmt` as root of a new user and mount namespace, after `setup` (sh). */
function inUserns(setup: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', `${setup} && exec "$@"`, 'sh', process.execPath, KILN, 'binfmt'], { encoding: 'utf8' });
}

const ownInstance = isRoot && process.arch === 'x64' && inUserns('mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc').status === 0;

describe('kiln binfmt where nothing is registered', { skip: !ownInstance && 'needs root, an amd64 host and binfmt_misc in user namespaces (Linux 6.7+)' }, () => {
  test('a fresh binfmt_misc: every foreign platform missing, and one line with the fix', () => {
    const r = inUserns('mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(rows(r.stdout), [['linux/amd64', 'native'], ['linux/386', 'native'], ...FOREIGN.map((p) => [p, 'missing: not registered'])]);
    assert.ok(r.stdout.endsWith(`\n\nRUN cannot execute ${FOREIGN.join(', ')} here: install qemu-user-static and run \`kiln binfmt --install\` as root\n`), r.stdout);
  });

  test('binfmt_misc not mounted (an empty folder in its place)', () => {
    const r = inUserns('mount -t tmpfs none /proc/sys/fs/binfmt_misc');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(rows(r.stdout).map((row) => row[1]), ['native', 'native', ...FOREIGN.map(() => 'missing: binfmt_misc not mounted')]);
    assert.match(r.stdout, /\n\nRUN cannot execute linux\/arm64, .*: install qemu-user-static and run `kiln binfmt --install` as root \(it mounts it\)\n$/);
  });
});
