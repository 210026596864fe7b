/** Runs the real `kiln` command (cli/kiln.js) in a child process, as a user would. */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TOP = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KILN = join(TOP, 'cli', 'kiln.js');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runKiln(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; umask?: string } = {}): RunResult {
  const env = { ...process.env, ...opts.env };
  const cmd = opts.umask
    ? spawnSync('sh', ['-c', `umask ${opts.umask} && exec "$0" "$@"`, process.execPath, KILN, ...args], { env, cwd: opts.cwd ?? TOP, encoding: 'utf8' })
    : spawnSync(process.execPath, [KILN, ...args], { env, cwd: opts.cwd ?? TOP, encoding: 'utf8' });
  return { status: cmd.status ?? -1, stdout: cmd.stdout, stderr: cmd.stderr };
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'kiln-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copies a testdata build context to `dest` (modes and mtimes kept). */
export function copyContext(name: string, dest: string): string {
  cpSync(join(TOP, 'testdata', 'build', name), dest, { recursive: true, preserveTimestamps: true });
  return dest;
}

/** Runs a program and returns its stdout; throws with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
