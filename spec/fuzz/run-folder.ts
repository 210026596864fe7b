/**
 * Runs a command in a fresh run folder and checks that it wrote nothing
 * outside it: the "no write outside temp folders" part of `make fuzz`.
 *
 *   RUN = $TMPDIR/kiln-NAME-XXXXXX, holding tmp/ home/ kiln-home/ findings/ strace/ marker
 *   [unshare --mount: / read-only, RUN writable]   root + unshare only: protects the machine
 *     [strace -f -ff]                               logs every write-type syscall of the command
 *       COMMAND with TMPDIR, HOME, KILN_HOME, XDG_*, DOCKER_CONFIG inside RUN
 *
 * Afterwards: every path strace saw created, opened for writing, renamed,
 * removed, chmodded, chowned or touched must lie in RUN (an attempt counts
 * even when the read-only root stopped it); and `find / -xdev -cnewer
 * MARKER` lists what changed on the root file system outside RUN, /proc,
 * /sys and /dev during the run. On a shared machine other processes write
 * too: with strace, only paths it attributes to the command fail the run
 * and the rest are listed as changed by others; without strace every such
 * path fails it. A failure keeps RUN; a clean run removes it.
 *
 * As a command (the Dockerfile fuzzer uses it from the Makefile):
 *
 *   node --import tsx spec/fuzz/run-folder.ts NAME [--write-check auto|strace|find|none] [--sandbox auto|on|off] [--keep] -- COMMAND...
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunFolderOptions {
  writeCheck: 'auto' | 'strace' | 'find' | 'none';
  sandbox: 'auto' | 'on' | 'off';
  /** Keep the run folder after a clean run too. */
  keep: boolean;
}

/** Syscalls that create, change or remove a file system entry, for strace. */
const WRITE_SYSCALLS = [
  'open', 'openat', 'openat2', 'creat', 'mkdir', 'mkdirat', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'rmdir',
  'symlink', 'symlinkat', 'link', 'linkat', 'mknod', 'mknodat', 'chmod', 'fchmod', 'fchmodat', 'chown', 'fchown', 'lchown',
  'fchownat', 'utime', 'utimes', 'utimensat', 'futimesat', 'truncate', 'ftruncate', 'setxattr', 'lsetxattr', 'fsetxattr',
  'removexattr', 'lremovexattr', 'fremovexattr',
];

export function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** Runs `cmd` in a new run folder (see the file comment); resolves to its exit code, or 1 for a write outside. */
export async function inRunFolder(name: string, cmd: readonly string[], opts: RunFolderOptions): Promise<number> {
  const runDir = mkdtempSync(join(tmpdir(), `kiln-${name}-`));
  for (const d of ['tmp', 'home', 'kiln-home', 'findings', 'strace']) mkdirSync(join(runDir, d));
  const marker = join(runDir, 'marker');
  writeFileSync(marker, '');
  // Whatever is written from here on must be newer than the marker.
  const markerTime = statSync(marker).mtimeMs;
  while (Date.now() <= markerTime + 1) await new Promise((r) => setTimeout(r, 2));
  const useStrace = opts.writeCheck === 'strace' || (opts.writeCheck === 'auto' && has('strace'));
  const useFind = opts.writeCheck === 'find' || opts.writeCheck === 'auto';
  const sandbox = opts.sandbox === 'on' || (opts.sandbox === 'auto' && process.getuid?.() === 0 && has('unshare'));
  if (opts.writeCheck === 'strace' && !has('strace')) throw new Error('--write-check strace: strace is not installed');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KILN_FUZZ_RUN: runDir,
    TMPDIR: join(runDir, 'tmp'),
    HOME: join(runDir, 'home'),
    KILN_HOME: join(runDir, 'kiln-home'),
    XDG_CACHE_HOME: join(runDir, 'home', '.cache'),
    XDG_CONFIG_HOME: join(runDir, 'home', '.config'),
    DOCKER_CONFIG: join(runDir, 'home', '.docker'),
  };
  let full = [...cmd];
  if (useStrace) {
    full = ['strace', '-f', '--seccomp-bpf', '-qq', '-ff', '-s', '65535', '-x', '-y', '-e', `trace=${WRITE_SYSCALLS.join(',')}`, '-o', join(runDir, 'strace', 'trace'), ...full];
  }
  if (sandbox) {
    // A private mount namespace where / is read-only and only the run folder is writable (other mounts, /dev and /proc, keep theirs).
    full = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro / && exec "$@"', runDir, ...full];
  }
  const cwd = process.cwd();
  const checks = [useStrace && 'strace', useFind && 'find'].filter(Boolean).join(' + ') || 'none';
  console.error(`${name}: run folder ${runDir}; ${sandbox ? '/ read-only except it' : 'no sandbox'}; write check: ${checks}`);
  const code = await new Promise<number>((done) => {
    const child = spawn(full[0]!, full.slice(1), { stdio: 'inherit', env, cwd });
    child.on('exit', (c, signal) => done(c ?? (signal === null ? 2 : 128)));
    child.on('error', (err) => {
      console.error(`${name}: cannot start ${full[0]}: ${err.message}`);
      done(2);
    });
  });
  let strayByCommand: string[] = [];
  let attributed: Set<string> | undefined;
  if (useStrace) {
    const writes = straceWrites(join(runDir, 'strace'), cwd);
    attributed = new Set(writes.map((w) => w.path));
    strayByCommand = [...new Set(writes.filter((w) => !inside(w.path, runDir) && !allowedDevice(w.path)).map((w) => `${w.path}  (${w.call})`))];
    console.log(`write check: strace logged ${attributed.size} path(s) written, ${strayByCommand.length} outside ${runDir}`);
  }
  const strays = [...strayByCommand];
  if (useFind) {
    const changed = findChanged(marker, runDir);
    const byOthers = attributed === undefined ? [] : changed.filter((p) => !attributed.has(p));
    const unexplained = attributed === undefined ? changed : changed.filter((p) => attributed.has(p));
    console.log(
      `write check: find saw ${changed.length} path(s) changed outside ${runDir}, /proc, /sys, /dev` +
        (attributed !== undefined ? `; strace attributes ${unexplained.length} to this run, ${byOthers.length} to other processes` : ''),
    );
    for (const p of byOthers.slice(0, 10)) console.log(`  changed by another process: ${p}`);
    if (byOthers.length > 10) console.log(`  ... and ${byOthers.length - 10} more`);
    for (const p of unexplained) if (!strays.some((s) => s.startsWith(`${p}  `))) strays.push(p);
  }
  for (const p of strays) console.log(`WRITE OUTSIDE THE RUN FOLDER: ${p}`);
  const failed = code !== 0 || strays.length > 0;
  if (failed || opts.keep) console.log(`run folder kept: ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
  return code !== 0 ? code : strays.length > 0 ? 1 : 0;
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** Character devices any process may open for writing. */
function allowedDevice(path: string): boolean {
  return path === '/dev/null' || path === '/dev/tty' || path === '/dev/ptmx' || path.startsWith('/dev/pts/');
}

/** Paths of the root file system whose status changed after `marker`, outside `runDir`, /proc, /sys and /dev. */
function findChanged(marker: string, runDir: string): string[] {
  const r = spawnSync(
    'find',
    ['/', '-xdev', '(', '-path', '/proc', '-o', '-path', '/sys', '-o', '-path', '/dev', '-o', '-path', runDir, ')', '-prune', '-o', '-cnewer', marker, '-print'],
    { encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  return r.stdout.split('\n').filter((l) => l !== '' && l !== runDir);
}

/** One logged write: the syscall and the absolute path it touched. */
interface Write {
  call: string;
  path: string;
}

/**
 * Every path a write-type syscall named in strace's logs (`-ff -y -x`: one
 * file per thread, fds shown as `N<path>`, strings with `\xNN` escapes).
 * Failed calls count too. `/proc/self/fd/N` (coreutils' chmod of an O_PATH
 * descriptor) is resolved through the descriptors the same log opened.
 */
function straceWrites(dir: string, cwd: string): Write[] {
  const out: Write[] = [];
  for (const file of readdirSync(dir)) {
    const fds = new Map<string, string>();
    for (const line of readFileSync(join(dir, file), 'latin1').split('\n')) {
      const m = /^(\w+)\((.*)\) += (.*)$/.exec(line);
      if (m === null) continue;
      const [, call = '', argText = '', result = ''] = m;
      const opened = /^(\d+)<(.*)>$/.exec(result);
      if (opened !== null) fds.set(opened[1]!, literal(`"${opened[2]!}"`) ?? '');
      for (const path of writtenPaths(call, splitArgs(argText), cwd)) {
        const viaFd = /^\/proc\/(?:self|thread-self|\d+)\/fd\/(\d+)$/.exec(path);
        out.push({ call, path: viaFd !== null ? (fds.get(viaFd[1]!) ?? path) : path });
      }
    }
  }
  return out;
}

/** Top-level arguments of a strace call, quotes and brackets respected. */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let quote = false;
  let angle = false;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      cur += c;
      if (c === '\\') cur += text[++i] ?? '';
      else if (c === '"') quote = false;
      continue;
    }
    if (angle) {
      cur += c;
      if (c === '>') angle = false;
      continue;
    }
    if (c === '"') quote = true;
    else if (c === '<') angle = true;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      args.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') args.push(cur.trim());
  return args;
}

/** A strace string literal (`"a\x2fb"`) as a path; undefined for NULL and non-strings. */
function literal(arg: string | undefined): string | undefined {
  const m = /^"((?:[^"\\]|\\.)*)"(\.\.\.)?$/.exec(arg ?? '');
  if (m === null) return undefined;
  const bytes: number[] = [];
  const s = m[1]!;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      bytes.push(s.charCodeAt(i) & 0xff);
      continue;
    }
    const e = s[++i] ?? '';
    if (e === 'x') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (/[0-7]/.test(e)) {
      let oct = e;
      while (oct.length < 3 && /[0-7]/.test(s[i + 1] ?? '')) oct += s[++i];
      bytes.push(parseInt(oct, 8));
    } else bytes.push(({ n: 10, t: 9, r: 13, v: 11, f: 12 } as Record<string, number>)[e] ?? e.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The path strace shows for an fd argument (`3</a/b>`, `AT_FDCWD</cwd>`). */
function fdPath(arg: string | undefined): string | undefined {
  const m = /<(.*)>$/.exec(arg ?? '');
  return m === null ? undefined : literal(`"${m[1]!}"`);
}

function at(dirArg: string | undefined, pathArg: string | undefined, cwd: string): string | undefined {
  const p = literal(pathArg);
  if (p === undefined) return fdPath(dirArg); // utimensat(fd, NULL, ...) and the like act on the fd
  if (p.startsWith('/')) return resolve(p);
  return resolve(fdPath(dirArg) ?? cwd, p);
}

function writtenPaths(call: string, a: string[], cwd: string): string[] {
  const plain = (i: number): string | undefined => {
    const p = literal(a[i]);
    return p === undefined ? undefined : resolve(cwd, p);
  };
  const writeFlags = (flags: string | undefined): boolean => /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(flags ?? '');
  const paths: (string | undefined)[] = [];
  switch (call) {
    case 'open':
      if (writeFlags(a[1])) paths.push(plain(0));
      break;
    case 'openat':
    case 'openat2':
      if (writeFlags(a[2])) paths.push(at(a[0], a[1], cwd));
      break;
    case 'creat': case 'mkdir': case 'rmdir': case 'unlink': case 'mknod': case 'chmod': case 'chown': case 'lchown':
    case 'utime': case 'utimes': case 'truncate': case 'setxattr': case 'lsetxattr': case 'removexattr': case 'lremovexattr':
      paths.push(plain(0));
      break;
    case 'mkdirat': case 'unlinkat': case 'mknodat': case 'fchmodat': case 'fchownat': case 'utimensat': case 'futimesat':
      paths.push(at(a[0], a[1], cwd));
      break;
    case 'fchmod': case 'fchown': case 'ftruncate': case 'fsetxattr': case 'fremovexattr':
      paths.push(fdPath(a[0]));
      break;
    case 'rename':
      paths.push(plain(0), plain(1));
      break;
    case 'renameat': case 'renameat2':
      paths.push(at(a[0], a[1], cwd), at(a[2], a[3], cwd));
      break;
    case 'symlink': case 'link':
      paths.push(plain(1));
      break;
    case 'symlinkat':
      paths.push(at(a[1], a[2], cwd));
      break;
    case 'linkat':
      paths.push(at(a[2], a[3], cwd));
      break;
  }
  return paths.filter((p): p is string => p !== undefined);
}

function main(argv: readonly string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const [name, ...flags] = dash === -1 ? [] : argv.slice(0, dash);
  const cmd = argv.slice(dash + 1);
  const opts: RunFolderOptions = { writeCheck: 'auto', sandbox: 'auto', keep: false };
  for (let i = 0; i < flags.length; i++) {
    const [flag, inline] = (flags[i] ?? '').split('=', 2);
    const value = inline ?? flags[++i] ?? '';
    if (flag === '--write-check' && ['auto', 'strace', 'find', 'none'].includes(value)) opts.writeCheck = value as RunFolderOptions['writeCheck'];
    else if (flag === '--sandbox' && ['auto', 'on', 'off'].includes(value)) opts.sandbox = value as RunFolderOptions['sandbox'];
    else if (flag === '--keep') {
      opts.keep = true;
      if (inline === undefined) i--;
    } else return Promise.reject(new Error(`unknown option ${flags[i] ?? ''}`));
  }
  if (name === undefined || cmd.length === 0) return Promise.reject(new Error('usage: run-folder.ts NAME [--write-check M] [--sandbox M] [--keep] -- COMMAND...'));
  return inRunFolder(name, cmd, opts);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error((err as Error).message);
      process.exitCode = 2;
    },
  );
}
