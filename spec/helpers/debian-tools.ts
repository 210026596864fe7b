/**
 * Test kit: the Debian tools the registry tests drive, installed with
 * apt-get when missing (needs root; `apt-get update` at most once per process).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Program (absolute path) → the Debian package that ships it. */
export const REGISTRY_TOOLS: Readonly<Record<string, string>> = {
  '/usr/bin/docker-registry': 'docker-registry',
  '/usr/bin/htpasswd': 'apache2-utils',
  '/usr/bin/openssl': 'openssl',
};

export const SKOPEO_TOOLS: Readonly<Record<string, string>> = {
  '/usr/bin/skopeo': 'skopeo',
};

let updated: Promise<void> | undefined;
let installing: Promise<void> = Promise.resolve();

async function aptGet(args: readonly string[]): Promise<void> {
  // Another test process may hold the dpkg lock: wait for it instead of failing.
  const full = ['-o', 'DPkg::Lock::Timeout=300', '-qq', ...args];
  try {
    await execFileP('apt-get', full, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`apt-get ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * Makes sure every program in `tools` exists, installing the missing ones'
 * packages. Throws with a clear message when something is missing and this
 * process is not root.
 */
export async function ensureTools(tools: Readonly<Record<string, string>>): Promise<void> {
  const run = async (): Promise<void> => {
    const missing = [...new Set(Object.entries(tools).filter(([bin]) => !existsSync(bin)).map(([, pkg]) => pkg))];
    if (missing.length === 0) return;
    if (process.getuid?.() !== 0) throw new Error(`the registry tests need ${missing.join(', ')}: run apt-get install -y ${missing.join(' ')} as root`);
    updated ??= aptGet(['update']);
    await updated;
    await aptGet(['install', '-y', '--no-install-recommends', ...missing]);
  };
  // One apt-get at a time within this process.
  installing = installing.then(run, run);
  return installing;
}
