import { execFileSync, spawnSync } from 'node:child_process';
import { SandboxError } from './errors.ts';

/**
 * Extended attributes through attr's getfattr/setfattr: Node has no xattr
 * API, and one process per batch of paths is cheap next to a RUN. Only the
 * paths a command changed are read; `security.selinux` is left out (a label
 * of this host, not of the image).
 */

/** Arguments per getfattr call, far below ARG_MAX. */
const BATCH_BYTES = 256 << 10;
const SKIP = new Set(['security.selinux']);

export type Xattrs = Record<string, Buffer>;

/** The xattrs of the given paths (relative to `root`, never following symlinks); paths without any are absent. */
export function readXattrs(getfattr: string, root: string, paths: readonly string[]): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  for (let i = 0; i < paths.length; ) {
    const batch: string[] = [];
    let bytes = 0;
    while (i < paths.length && (batch.length === 0 || bytes + paths[i]!.length < BATCH_BYTES)) {
      bytes += paths[i]!.length + 1;
      batch.push(paths[i++]!);
    }
    // Exit status 1 only means some path had no xattr support or vanished: the dump is still complete.
    const r = spawnSync(getfattr, ['-h', '-d', '-m', '-', '-e', 'hex', '--', ...batch], { cwd: root, maxBuffer: 256 << 20 });
    if (r.error !== undefined) throw new SandboxError('CAPTURE_FAILED', `getfattr failed: ${r.error.message}`, { cause: r.error });
    parseDump(r.stdout.toString('latin1'), out);
  }
  return out;
}

function parseDump(text: string, out: Map<string, Xattrs>): void {
  let current: Xattrs | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      out.set(unescape(line.slice(8)), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0) continue;
    const name = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (SKIP.has(name) || !value.startsWith('0x')) continue;
    current[name] = Buffer.from(value.slice(2), 'hex');
  }
}

/** getfattr writes bytes outside printable ASCII, and backslashes, as \ooo escapes. */
function unescape(s: string): string {
  const bytes = Buffer.from(s.replace(/\\\\/g, '\\134').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1');
  return bytes.toString('utf8');
}

function escape(path: string): string {
  let s = '';
  for (const b of Buffer.from(path, 'utf8')) s += b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
  return s;
}

/** Sets xattrs on paths relative to `root` in one setfattr run (after owners: chown drops security.capability). */
export function writeXattrs(setfattr: string, root: string, entries: readonly (readonly [string, Xattrs])[]): void {
  if (entries.length === 0) return;
  let dump = '';
  for (const [path, attrs] of entries) {
    dump += `# file: ${escape(path)}\n`;
    for (const [name, value] of Object.entries(attrs)) dump += `${name}=0x${value.toString('hex')}\n`;
    dump += '\n';
  }
  try {
    execFileSync(setfattr, ['--restore=-'], { cwd: root, input: dump, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (cause) {
    throw new SandboxError('ROOTFS_WRITE_FAILED', `setfattr failed: ${String((cause as { stderr?: Buffer }).stderr ?? cause)}`, { cause });
  }
}
