/**
 * Test kit: skopeo (Debian, 1.9) as the independent peer that puts images
 * into and takes them out of the kit's registries. The wrappers add the
 * flags each registry mode needs (plain http, the self-signed CA, credentials)
 * and isolate skopeo from the machine's own auth files.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Digest, parseDigest } from '../../lib/digest/index.ts';
import { SKOPEO_TOOLS, ensureTools } from './debian-tools.ts';
import { removeAtExit } from './managed-process.ts';
import type { RunningRegistry } from './registry.ts';

/** `user:password`; null for anonymous access; undefined for the registry's default (its first user when it needs auth). */
export type SkopeoCreds = string | null | undefined;

export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
  /** skopeo copy to a registry: the pushed manifest's digest (`--digestfile`). */
  digest?: Digest;
}

export interface SkopeoCopyOptions {
  /** Registries the `docker://` side(s) point at (matched by host), for their TLS and auth flags. */
  registry?: RunningRegistry | readonly RunningRegistry[];
  srcCreds?: SkopeoCreds;
  destCreds?: SkopeoCreds;
  /** `--all`: copy every image of an index. */
  all?: boolean;
  /** More skopeo copy flags (e.g. `--format`, `--preserve-digests`). */
  extraArgs?: readonly string[];
  /** Resolve with the result instead of throwing when skopeo fails. */
  allowFailure?: boolean;
}

export interface SkopeoInspectOptions {
  creds?: SkopeoCreds;
  /** `--raw`: the manifest bytes as served. */
  raw?: boolean;
  /** `--config`: the image config. */
  config?: boolean;
  /** `--override-arch` / `--override-os`, for picking from an index. */
  arch?: string;
  os?: string;
}

/** `docker://127.0.0.1:PORT/NAME` for `name` (`repo:tag` or `repo@digest`) in `reg`. */
export function dockerRef(reg: RunningRegistry, name: string): string {
  return `docker://${reg.host}/${name}`;
}

let isolation: { env: NodeJS.ProcessEnv; authFile: string } | undefined;

/** An empty auth file and DOCKER_CONFIG, so stored logins on this machine never leak into a test. */
function isolated(): { env: NodeJS.ProcessEnv; authFile: string } {
  if (isolation === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-skopeo-'));
    removeAtExit(dir);
    const authFile = join(dir, 'auth.json');
    writeFileSync(authFile, '{"auths":{}}\n');
    isolation = { env: { ...process.env, DOCKER_CONFIG: dir, REGISTRY_AUTH_FILE: authFile }, authFile };
  }
  return isolation;
}

function registryFor(ref: string, registries: readonly RunningRegistry[]): RunningRegistry | undefined {
  if (!ref.startsWith('docker://')) return undefined;
  const host = ref.slice('docker://'.length).split('/')[0];
  return registries.find((r) => r.host === host);
}

/** The flags for one side (`src` / `dest` / `` for inspect) talking to `reg`. */
function sideFlags(side: 'src-' | 'dest-' | '', reg: RunningRegistry | undefined, creds: SkopeoCreds): string[] {
  if (reg === undefined) return [];
  const flags = reg.certDir === undefined ? [`--${side}tls-verify=false`] : [`--${side}cert-dir`, reg.certDir];
  const [firstUser, firstPassword] = Object.entries(reg.users)[0] ?? [];
  const chosen = creds !== undefined ? creds : reg.needsAuth && firstUser !== undefined ? `${firstUser}:${firstPassword}` : null;
  flags.push(...(chosen === null ? [`--${side}no-creds`] : [`--${side}creds`, chosen]));
  return flags;
}

/** The command line with passwords masked, for error messages. */
function shown(args: readonly string[]): string {
  return args.map((a, i) => (/creds$/.test(args[i - 1] ?? '') ? a.replace(/:.*/, ':***') : a)).join(' ');
}

async function runSkopeo(args: readonly string[], allowFailure: boolean): Promise<SkopeoResult> {
  await ensureTools(SKOPEO_TOOLS);
  const { env } = isolated();
  const result = await new Promise<SkopeoResult>((resolve) => {
    execFile('skopeo', args, { env, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
  if (result.code !== 0 && !allowFailure) throw new Error(`skopeo ${shown(args)} failed (${result.code}): ${result.stderr}`);
  return result;
}

/**
 * `skopeo copy SRC DST` with the flags the registries' modes need. Resolves
 * with skopeo's output (and, for a `docker://` destination, the pushed
 * manifest digest); throws on failure unless `allowFailure`.
 * Asynchronous on purpose: a token server in this process must keep answering.
 */
export async function skopeoCopy(src: string, dst: string, opts: SkopeoCopyOptions = {}): Promise<SkopeoResult> {
  const registries = opts.registry === undefined ? [] : Array.isArray(opts.registry) ? opts.registry : [opts.registry as RunningRegistry];
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-skopeo-copy-'));
  try {
    const digestFile = join(tmp, 'digest');
    const args = [
      '--insecure-policy', 'copy', '--quiet', '--authfile', isolated().authFile,
      ...sideFlags('src-', registryFor(src, registries), opts.srcCreds),
      ...sideFlags('dest-', registryFor(dst, registries), opts.destCreds),
      ...(opts.all === true ? ['--all'] : []),
      ...(dst.startsWith('docker://') ? ['--digestfile', digestFile] : []),
      ...(opts.extraArgs ?? []),
      src, dst,
    ];
    const result = await runSkopeo(args, opts.allowFailure === true);
    if (result.code === 0 && dst.startsWith('docker://')) result.digest = parseDigest(readFileSync(digestFile, 'utf8').trim());
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `skopeo inspect` of `name` (`repo:tag` / `repo@digest`) in `reg`: its stdout (JSON, or the raw manifest with `raw`). */
export async function skopeoInspect(reg: RunningRegistry, name: string, opts: SkopeoInspectOptions = {}): Promise<string> {
  const global = [
    '--insecure-policy',
    ...(opts.arch === undefined ? [] : ['--override-arch', opts.arch]),
    ...(opts.os === undefined ? [] : ['--override-os', opts.os]),
  ];
  const args = [
    ...global, 'inspect', '--authfile', isolated().authFile,
    ...sideFlags('', reg, opts.creds),
    ...(opts.raw === true ? ['--raw'] : []),
    ...(opts.config === true ? ['--config'] : []),
    dockerRef(reg, name),
  ];
  return (await runSkopeo(args, false)).stdout;
}
