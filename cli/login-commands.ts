/** `kiln login` and `kiln logout`: docker's config.json, checked against the registry first. */
import { CredentialStore } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import type { Io } from './main.ts';
import { REGISTRY_SPECS, registryClient } from './registry-options.ts';

const DEFAULT_REGISTRY = 'docker.io';

/**
 * `kiln login [-u USER] [--password-stdin | -p PASSWORD] [SERVER]`: checks the
 * credentials with the registry (a token without scopes, or an
 * authenticated /v2/), then saves them as docker does (credential helper,
 * else `auths` in config.json). Never prints the password.
 */
export async function loginCommand(argv: readonly string[], io: Io, readStdin: () => Promise<string> = stdinText): Promise<number> {
  const args = parseArgs(argv, [
    ...REGISTRY_SPECS,
    { name: 'username', short: 'u', value: true },
    { name: 'password', short: 'p', value: true },
    { name: 'password-stdin' },
  ]);
  if (args.positional.length > 1) throw new UsageError(`requires at most 1 argument (the registry), got ${args.positional.length}`);
  const registry = args.positional[0] ?? DEFAULT_REGISTRY;
  const username = args.values.get('username')?.[0];
  let password = args.values.get('password')?.[0];
  if (args.flags.has('password-stdin')) {
    if (password !== undefined) throw new UsageError('--password and --password-stdin are mutually exclusive');
    if (username === undefined) throw new UsageError('Must provide --username with --password-stdin');
    password = (await readStdin()).replace(/\r?\n$/, '');
  } else if (password !== undefined) {
    io.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (username === undefined || username === '' || password === undefined || password === '') {
    throw new UsageError('needs a username and a password: -u USER with --password-stdin (or -p PASSWORD)');
  }
  const client = registryClient(args, io);
  try {
    await client.checkCredentials(registry, { kind: 'basic', username, password });
  } finally {
    await client.close();
  }
  const saved = await new CredentialStore({ env: io.env }).login(registry, username, password);
  if (saved.helper === undefined) io.err(`WARNING! Your password will be stored unencrypted in ${new CredentialStore({ env: io.env }).path}.\n`);
  io.out('Login Succeeded\n');
  return 0;
}

/** `kiln logout [SERVER]`: forgets the registry's credentials (config.json entries and the helper's). */
export async function logoutCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseArgs(argv, []);
  if (args.positional.length > 1) throw new UsageError(`requires at most 1 argument (the registry), got ${args.positional.length}`);
  const registry = args.positional[0] ?? DEFAULT_REGISTRY;
  const removed = await new CredentialStore({ env: io.env }).logout(registry);
  io.out(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  return 0;
}

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
