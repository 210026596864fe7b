import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './args.ts';
import { BINFMT_HELP, BUILD_HELP, CONTEXT_HELP, COPY_HELP, FSCK_HELP, IMAGES_HELP, INSPECT_HELP, LOGIN_HELP, LOGOUT_HELP, PARSE_HELP, PRUNE_HELP, PULL_HELP, PUSH_HELP, RMI_HELP } from './help.ts';

const HELP = `Usage:  kiln [OPTIONS] COMMAND

A daemonless OCI image builder: Dockerfile in, OCI image out, in one Node.js process.

Options:
  -h, --help       Print usage
  -v, --version    Print version information and quit

Commands:
  build       Build an image from a Dockerfile
  images      List images in the local store
  inspect     Display the configuration of an image
  rmi         Remove image tags from the local store
  prune       Remove unused build cache and blobs
  fsck        Re-verify the local store (--repair removes what is broken)
  pull        Download an image from a registry
  push        Upload an image to a registry
  copy        Copy an image between registries, layouts and archives
  login       Log in to a registry
  logout      Log out from a registry
  parse       Print a Dockerfile's syntax tree
  context     List the files a build would see (context ls)
  plan        Show a build's stages, dependencies and base images without building
  cp          Copy files out of an image
  run         Run an image's command in the sandbox
  binfmt      Show or register the emulators that run other platforms' RUN steps

Environment:
  KILN_HOME               The local image store (default ~/.local/share/kiln)
  SOURCE_DATE_EPOCH       Timestamp for reproducible builds
  DOCKER_CONFIG           Folder of the registry credentials' config.json (default ~/.docker)
  KILN_REGISTRY_MIRRORS   Registry mirrors, REGISTRY=URL[,…]
  KILN_CONNECT_TIMEOUT    Network timeouts (default 30s, 60s, 60s); the flags
  KILN_RESPONSE_TIMEOUT     --connect-timeout, --response-timeout and --idle-timeout
  KILN_IDLE_TIMEOUT         of the registry commands win over them
  KILN_MAX_LAYER_SIZE     Most bytes a layer or ADD archive may unpack to (default 32GiB)
  KILN_MAX_LAYER_RATIO    Most bytes out per compressed byte (default 1100; 0: no check)
  KILN_LAYER_RATIO_GRACE  Bytes out before the ratio is checked (default 1GiB)
  KILN_MAX_PATH_DEPTH     Most levels of a path in a layer or archive (default 1024)

Run 'kiln COMMAND --help' for more information on a command.
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
};

/** The local store's folder: `$KILN_HOME`, else `$XDG_DATA_HOME/kiln`, else `~/.local/share/kiln`. */
export function kilnHome(env: NodeJS.ProcessEnv): string {
  if (env.KILN_HOME) return env.KILN_HOME;
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'kiln');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs one kiln command line; returns the exit status. Only this layer prints. */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  // The store this command uses, after removing what killed runs left in it.
  const home = async (): Promise<string> => {
    const dir = kilnHome(io.env);
    (await import('../lib/index.ts')).sweepHome(dir);
    return dir;
  };
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(HELP);
        return 0;
      case '-v':
      case '--version':
      case 'version':
        io.out(`kiln version ${version()}\n`);
        return 0;
      case 'build':
        if (wantsHelp) return help(io, BUILD_HELP);
        if (needsUserNamespace(io)) return await reexecRootless(argv, io);
        return await (await import('./build-command.ts')).buildCommand(rest, io, await home());
      case 'images':
        if (wantsHelp) return help(io, IMAGES_HELP);
        return await (await import('./image-commands.ts')).imagesCommand(rest, io, await home());
      case 'inspect':
        if (wantsHelp) return help(io, INSPECT_HELP);
        return await (await import('./image-commands.ts')).inspectCommand(rest, io, await home());
      case 'rmi':
        if (wantsHelp) return help(io, RMI_HELP);
        return await (await import('./cache-commands.ts')).rmiCommand(rest, io, await home());
      case 'prune':
        if (wantsHelp) return help(io, PRUNE_HELP);
        return await (await import('./cache-commands.ts')).pruneCommand(rest, io, await home());
      case 'fsck':
        if (wantsHelp) return help(io, FSCK_HELP);
        return await (await import('./cache-commands.ts')).fsckCommand(rest, io, await home());
      case 'pull':
        if (wantsHelp) return help(io, PULL_HELP);
        return await (await import('./registry-commands.ts')).pullCommand(rest, io, await home());
      case 'push':
        if (wantsHelp) return help(io, PUSH_HELP);
        return await (await import('./registry-commands.ts')).pushCommand(rest, io, await home());
      case 'copy':
        if (wantsHelp) return help(io, COPY_HELP);
        return await (await import('./registry-commands.ts')).copyCommand(rest, io, await home());
      case 'login':
        if (wantsHelp) return help(io, LOGIN_HELP);
        return await (await import('./login-commands.ts')).loginCommand(rest, io);
      case 'logout':
        if (wantsHelp) return help(io, LOGOUT_HELP);
        return await (await import('./login-commands.ts')).logoutCommand(rest, io);
      case 'parse':
        if (wantsHelp) return help(io, PARSE_HELP);
        return await (await import('./front-commands.ts')).parseCommand(rest, io);
      case 'context':
        if (wantsHelp) return help(io, CONTEXT_HELP);
        return await (await import('./front-commands.ts')).contextCommand(rest, io);
      case 'cp': {
        const m = await import('./container-commands.ts');
        if (wantsHelp) return help(io, m.CP_HELP);
        return await m.cpCommand(rest, io, await home());
      }
      case 'run': {
        if (needsUserNamespace(io)) return await reexecRootless(argv, io);
        const m = await import('./container-commands.ts');
        if (rest[0] === '--help' || rest[0] === '-h') return help(io, m.RUN_HELP);
        return await m.runCommand(rest, io, await home());
      }
      case 'plan': {
        const m = await import('./plan-command.ts');
        if (wantsHelp) return help(io, m.PLAN_HELP);
        return await m.planCommand(rest, io);
      }
      case 'binfmt':
        if (wantsHelp) return help(io, BINFMT_HELP);
        return await (await import('./binfmt-command.ts')).binfmtCommand(rest, io);
      default:
        io.err(`kiln: '${cmd}' is not a kiln command.\nSee 'kiln --help'\n`);
        return 1;
    }
  } catch (err) {
    return report(err, io, cmd, (await import('../lib/index.ts')).KilnError);
  }
}

/**
 * Rootless builds: an unprivileged kiln re-runs itself as root of a user
 * namespace that maps its subordinate ids (as `buildah unshare` does), so
 * RUN can chown and USER keeps its ids. Without subuid ranges or uidmap it
 * goes on with one mapped id (owners inferred at capture).
 */
function needsUserNamespace(io: Io): boolean {
  return process.getuid?.() !== 0 && io.env.KILN_IN_USERNS !== '1';
}

async function reexecRootless(argv: readonly string[], io: Io): Promise<number> {
  const { rootlessUserNamespace } = await import('../lib/index.ts');
  const prefix = rootlessUserNamespace();
  if (prefix === undefined) {
    io.env.KILN_IN_USERNS = '1';
    return main(argv, io);
  }
  const { spawn } = await import('node:child_process');
  const kiln = new URL('./kiln.js', import.meta.url).pathname;
  const child = spawn(prefix[0]!, [...prefix.slice(1), process.execPath, kiln, ...argv], { stdio: 'inherit', env: { ...io.env, KILN_IN_USERNS: '1' } });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function help(io: Io, text: string): number {
  io.out(text);
  return 0;
}

// Commands and the library load only when needed, so `kiln --version` and
// `kiln --help` start without loading lib/.
function report(err: unknown, io: Io, cmd: string | undefined, KilnError: typeof import('../lib/index.ts').KilnError): number {
  if (err instanceof UsageError) {
    io.err(`kiln ${cmd}: ${err.message}\nSee 'kiln ${cmd} --help'.\n`);
    return 1;
  }
  if (err instanceof KilnError) {
    io.err(`ERROR: ${err.toLine()}\n`);
    if (io.env.KILN_DEBUG) io.err(`${err.stack}\n`);
    return 1;
  }
  io.err(`ERROR: INTERNAL: ${(err as Error)?.stack ?? String(err)}\n`);
  return 2;
}
