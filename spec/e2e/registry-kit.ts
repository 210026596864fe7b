/**
 * Shared pieces of the registry e2e tests: the real `kiln` command run
 * asynchronously (so registries, proxies and token servers in this process
 * keep answering), a fresh KILN_HOME + DOCKER_CONFIG per case, flags for a
 * kit registry, and independent checks (node:crypto, not lib/digest).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KILN, TOP } from '../helpers/kiln.ts';
import type { RunningRegistry } from '../helpers/registry.ts';

export interface KilnRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kiln ARGS` in a child process with `env` added; `input` goes to its
 * stdin. `wrapper`: a command line that runs it (`unshare -m … sh -c '…' sh`
 * then gets `node cli/kiln.js ARGS` as its arguments).
 */
export function kiln(args: readonly string[], env: NodeJS.ProcessEnv, input?: string, wrapper: readonly string[] = []): Promise<KilnRun> {
  const argv = [...wrapper, process.execPath, KILN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: TOP, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs kiln and fails the test (showing its stderr) unless it exits 0. */
export async function kilnOk(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): Promise<KilnRun> {
  const r = await kiln(args, env, input);
  assert.equal(r.status, 0, `kiln ${args.join(' ')} failed:\n${r.stderr}`);
  return r;
}

/** A user's world: a local store and a docker config folder of its own. */
export interface KilnUser {
  home: string;
  dockerConfig: string;
  env: NodeJS.ProcessEnv;
}

let users = 0;
export function newUser(parent: string, name = 'user'): KilnUser {
  const dir = join(parent, `${name}-${users++}`);
  const home = join(dir, 'kiln-home');
  const dockerConfig = join(dir, 'docker');
  mkdirSync(dockerConfig, { recursive: true });
  return { home, dockerConfig, env: { KILN_HOME: home, DOCKER_CONFIG: dockerConfig, KILN_REGISTRY_MIRRORS: '' } };
}

/** The flags kiln needs for a kit registry: its CA for TLS modes (plain http on loopback needs none). */
export function regFlags(reg: RunningRegistry): string[] {
  return reg.caCertPath !== undefined ? ['--ca-cert', reg.caCertPath] : [];
}

/** sha256 of bytes or a file, by node:crypto. */
export function sha256Of(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha256File(path: string): string {
  return sha256Of(readFileSync(path));
}

/** The blob files of a store or layout, by digest. */
export function blobFiles(root: string): Map<string, string> {
  const dir = join(root, 'blobs', 'sha256');
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const hex of readdirSync(dir)) out.set(`sha256:${hex}`, join(dir, hex));
  return out;
}

/** Leftovers of an interrupted write in a store: files in `.kiln-tmp` and `*.kiln-tmp-*` temp files. */
export function strayFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  const tmp = join(root, '.kiln-tmp');
  const stray = existsSync(tmp) ? readdirSync(tmp).map((f) => `.kiln-tmp/${f}`) : [];
  return [...stray, ...readdirSync(root).filter((f) => f.includes('.kiln-tmp-'))];
}

/** The index.json entries of a local store (empty when it does not exist). */
export function storeEntries(home: string): { digest: string; annotations?: Record<string, string>; platform?: { architecture: string; os: string } }[] {
  const path = join(home, 'index.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { manifests: [] }).manifests : [];
}

/** The ERROR lines of a run's stderr (progress lines may precede them). */
export function errorLines(r: KilnRun): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('ERROR:'));
}

/** Asserts a failed run: non-zero exit, exactly one ERROR line with `code` matching every pattern; returns the line. */
export function assertOneError(r: KilnRun, code: string | RegExp, ...patterns: RegExp[]): string {
  assert.notEqual(r.status, 0, 'exit status');
  const lines = errorLines(r);
  assert.equal(lines.length, 1, `one ERROR line:\n${r.stderr}`);
  const line = lines[0]!;
  assert.match(line, typeof code === 'string' ? new RegExp(`^ERROR: ${code}: `) : code);
  for (const p of patterns) assert.match(line, p);
  return line;
}

/** A regexp matching `s` literally. */
export function literal(s: string): RegExp {
  return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}
