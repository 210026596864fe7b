import { spawn } from 'node:child_process';
import { RegistryError } from './registry-error.ts';
import { clip, redact } from './redact.ts';

export type HelperAction = 'get' | 'store' | 'erase';

export interface HelperOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

const NOT_FOUND = /credentials not found/i;

/**
 * Runs `docker-credential-<name> <action>` with `input` on stdin (the
 * docker-credential-helpers protocol) and returns its stdout, or undefined
 * when the helper says "credentials not found". Any other failure is a
 * CREDENTIAL_HELPER_FAILED error whose message carries the helper's output
 * redacted.
 */
export function runCredentialHelper(name: string, action: HelperAction, input: string, opts: HelperOptions = {}): Promise<string | undefined> {
  const program = `docker-credential-${name}`;
  const fail = (why: string, cause?: unknown): RegistryError =>
    new RegistryError('CREDENTIAL_HELPER_FAILED', `${program} ${action} failed: ${why}`, { helper: name, cause });
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    // Not spawn's own `timeout`: its timer outlives a helper that failed to start.
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 30_000);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // a helper that exits without reading stdin
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? fail(`${program} not found on PATH`) : fail(e.code ?? e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve(stdout);
      const said = `${stdout} ${Buffer.concat(err).toString('utf8')}`;
      if (NOT_FOUND.test(said)) return resolve(undefined);
      reject(fail(signal !== null ? `killed by ${signal}` : `exit status ${code}: ${clip(redact(said))}`));
    });
    child.stdin.end(input);
  });
}

/** What a helper's `get` answers. */
export interface HelperCredentials {
  username: string;
  secret: string;
}

/** Parses the JSON a helper's `get` prints (`{"ServerURL","Username","Secret"}`). */
export function parseHelperOutput(name: string, stdout: string): HelperCredentials {
  try {
    const doc = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
    if (typeof doc.Secret === 'string') return { username: typeof doc.Username === 'string' ? doc.Username : '', secret: doc.Secret };
  } catch {
    // fall through: never echo the output, it may be a secret
  }
  throw new RegistryError('CREDENTIAL_HELPER_FAILED', `docker-credential-${name} get printed no credentials JSON`, { helper: name });
}
