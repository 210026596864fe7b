/**
 * Registering Debian's qemu-user-static handlers with binfmt_misc (`kiln
 * binfmt --install`) and removing them (`--uninstall`); what they make
 * runnable is lib/sandbox/binfmt.ts's to tell.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { BINFMT_DIR, type BinfmtEntry, elfHeader, entryMatches, hostArchitecture, nativeArchitectures, readBinfmt } from './binfmt.ts';
import { findTool } from './probe.ts';

/** Where Debian's qemu-user-static puts its registration lines (systemd binfmt.d format). */
export const BINFMT_CONF_DIR = '/usr/lib/binfmt.d';

/**
 * Failures of `installBinfmt` / `uninstallBinfmt`. Codes:
 * - `BINFMT_NOT_ROOT`: not root, or the kernel refused the write (EPERM/EACCES);
 * - `BINFMT_NO_EMULATORS`: no qemu-*.conf with an installed interpreter (`confDir`);
 * - `BINFMT_HOST_UNKNOWN`: kiln cannot tell which handlers would capture this machine's own binaries;
 * - `BINFMT_MOUNT_FAILED`: binfmt_misc could not be mounted (`dir`, `stderr`);
 * - `BINFMT_REGISTER_FAILED`: the kernel rejected a registration or removal (`name`, `line`).
 */
export class BinfmtError extends KilnError {}

export interface InstallOptions {
  dir?: string;
  confDir?: string;
  host?: string;
}

export type InstallOutcome =
  | { name: string; status: 'registered'; interpreter: string; flags: string; replaced?: string }
  | { name: string; status: 'already'; interpreter: string; flags: string }
  | { name: string; status: 'skipped'; reason: string };

export interface InstallReport {
  /** kiln mounted binfmt_misc. */
  mounted: boolean;
  /** kiln switched binfmt_misc's global status on. */
  enabled: boolean;
  /** One per qemu-*.conf line, in file name order. */
  outcomes: InstallOutcome[];
}

/** One parsed registration line. */
export interface BinfmtRegistration {
  name: string;
  type: string;
  offset: number;
  magic: Buffer;
  mask: Buffer;
  interpreter: string;
  flags: string;
}

/**
 * Registers the qemu-user-static handlers of `confDir` (root only): mounts
 * binfmt_misc and switches it on when needed; keeps the lines whose
 * interpreter is installed, never one that matches this machine's own
 * ELF headers (it would capture every native binary), adds the `F` flag.
 * Idempotent: a handler already registered the same way is left alone;
 * one that differs (disabled, no F, another interpreter, flags or magic)
 * is removed and registered again.
 */
export function installBinfmt(opts: InstallOptions = {}): InstallReport {
  requireRoot('registering binfmt_misc handlers', 'kiln binfmt --install');
  const dir = opts.dir ?? BINFMT_DIR;
  const confDir = opts.confDir ?? BINFMT_CONF_DIR;
  const host = opts.host ?? hostArchitecture();
  const native = nativeArchitectures(host).flatMap((a) => [elfHeader(a, 2), elfHeader(a, 3)]);
  if (native.some((h) => h === undefined)) {
    throw new BinfmtError('BINFMT_HOST_UNKNOWN', `kiln does not know the ELF header of this machine's architecture (${host}), so it cannot tell which handlers would capture its own binaries`, { host });
  }
  const lines = readConf(confDir);
  if (!lines.some((r) => 'interpreter' in r && existsSync(r.interpreter))) {
    throw new BinfmtError('BINFMT_NO_EMULATORS', `no QEMU emulator is installed (no qemu-*.conf in ${confDir} names an existing interpreter): apt-get install qemu-user-static`, { confDir });
  }
  const report: InstallReport = { mounted: false, enabled: false, outcomes: [] };
  let state = readBinfmt(dir);
  if (!state.mounted) {
    const r = spawnSync(findTool('mount') ?? 'mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir], { encoding: 'utf8' });
    state = readBinfmt(dir);
    if (!state.mounted) throw new BinfmtError('BINFMT_MOUNT_FAILED', `cannot mount binfmt_misc on ${dir}: ${(r.stderr || r.error?.message || `mount exited ${r.status}`).trim()}`, { dir, stderr: r.stderr });
    report.mounted = true;
  }
  if (!state.enabled) {
    writeProc(join(dir, 'status'), '1', 'status');
    report.enabled = true;
  }
  for (const r of lines) {
    if ('reason' in r) {
      report.outcomes.push({ name: r.file, status: 'skipped', reason: r.reason });
      continue;
    }
    const skip = (reason: string): void => void report.outcomes.push({ name: r.name, status: 'skipped', reason });
    if (r.type !== 'M') skip(`not a magic (M) handler (type ${r.type})`);
    else if (native.some((h) => entryMatches({ ...r, extension: undefined }, h!))) skip(`it would capture this machine's own ${host} binaries`);
    else if (!existsSync(r.interpreter)) skip(`${r.interpreter} is not installed`);
    else report.outcomes.push(register(dir, r, state.entries.find((e) => e.name === r.name)));
  }
  return report;
}

function register(dir: string, r: BinfmtRegistration, existing: BinfmtEntry | undefined): InstallOutcome {
  const flags = normalizeFlags(`${r.flags}F`);
  const done = { name: r.name, interpreter: r.interpreter, flags };
  const differs = existing && difference(existing, r, flags);
  if (existing !== undefined && differs === undefined) return { ...done, status: 'already' };
  if (existing !== undefined) removeEntry(dir, existing.name);
  const esc = (b: Buffer): string => [...b].map((x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');
  const line = `:${r.name}:M:${r.offset}:${esc(r.magic)}:${esc(r.mask)}:${r.interpreter}:${flags}`;
  try {
    writeProc(join(dir, 'register'), line, r.name);
  } catch (err) {
    // Another kiln registered it meanwhile: fine if it is the same.
    const now = readBinfmt(dir).entries.find((e) => e.name === r.name);
    if (now === undefined || difference(now, r, flags) !== undefined) throw err;
    return { ...done, status: 'already' };
  }
  return { ...done, status: 'registered', ...(differs === undefined ? {} : { replaced: differs }) };
}

/** Why an existing handler is not what `r` with `flags` would register, or undefined when it is. */
function difference(e: BinfmtEntry, r: BinfmtRegistration, flags: string): string | undefined {
  if (!e.enabled) return 'it was disabled';
  if (!e.flags.includes('F')) return 'it had no F flag';
  if (real(e.interpreter) !== real(r.interpreter)) return `it ran ${e.interpreter}`;
  if (e.flags !== flags) return `it had flags ${e.flags}`;
  const masked = (x: { magic: Buffer; mask: Buffer }): string => [...x.magic].map((b, i) => b & (x.mask[i] ?? 0xff)).join(',');
  const fullMask = (x: { magic: Buffer; mask: Buffer }): string => [...x.magic].map((_, i) => x.mask[i] ?? 0xff).join(',');
  if (e.offset !== r.offset || masked(e) !== masked(r) || fullMask(e) !== fullMask(r)) return 'it had another magic';
  return undefined;
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The kernel's spelling of a flag set: P, O, C, F in that order, C implying O. */
function normalizeFlags(flags: string): string {
  const has = (c: string): boolean => flags.includes(c) || (c === 'O' && flags.includes('C'));
  return ['P', 'O', 'C', 'F'].filter(has).join('');
}

/** The lines of `confDir/qemu-*.conf` (systemd binfmt.d), parsed; a bad line or file is named with the reason. */
function readConf(confDir: string): (BinfmtRegistration | { file: string; reason: string })[] {
  let files: string[];
  try {
    files = readdirSync(confDir).filter((f) => /^qemu-.*\.conf$/.test(f)).sort();
  } catch {
    files = [];
  }
  const out: (BinfmtRegistration | { file: string; reason: string })[] = [];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(join(confDir, f), 'utf8');
    } catch (err) {
      out.push({ file: f, reason: `cannot read ${join(confDir, f)}: ${(err as Error).message}` });
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      out.push(parseRegistration(line) ?? { file: f, reason: `not a binfmt_misc registration line: ${JSON.stringify(line.slice(0, 80))}` });
    }
  }
  return out;
}

/** `:name:type:offset:magic:mask:interpreter:flags` (the first character is the separator; magic and mask take `\xHH`). */
export function parseRegistration(line: string): BinfmtRegistration | undefined {
  const [name, type, offset, magic, mask, interpreter, flags = '', ...extra] = line.slice(1).split(line[0]!);
  if (name === undefined || interpreter === undefined || extra.length > 0) return undefined;
  if (!/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/.test(name) || !/^\d*$/.test(offset!) || !interpreter.startsWith('/')) return undefined;
  const unescape = (s: string): Buffer => Buffer.from(s.replace(/\\x([0-9a-fA-F]{1,2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  const m = unescape(magic!);
  const k = unescape(mask!);
  if (m.length === 0 || (k.length !== 0 && k.length !== m.length)) return undefined;
  return { name, type: type!, offset: Number(offset || 0), magic: m, mask: k, interpreter, flags };
}

export interface UninstallOptions {
  dir?: string;
  /** Only these handlers (each must still be named qemu-*). */
  names?: readonly string[];
}

/** Removes the registered qemu-* handlers (root only); returns their names. Nothing when binfmt_misc is not mounted. */
export function uninstallBinfmt(opts: UninstallOptions = {}): string[] {
  requireRoot('removing binfmt_misc handlers', 'kiln binfmt --uninstall');
  const dir = opts.dir ?? BINFMT_DIR;
  const removed: string[] = [];
  for (const e of readBinfmt(dir).entries) {
    if (!e.name.startsWith('qemu-') || (opts.names !== undefined && !opts.names.includes(e.name))) continue;
    if (removeEntry(dir, e.name)) removed.push(e.name);
  }
  return removed;
}

function removeEntry(dir: string, name: string): boolean {
  try {
    writeProc(join(dir, name), '-1', name);
    return true;
  } catch (err) {
    if ((err as BinfmtError).fields?.['errno'] === 'ENOENT') return false;
    throw err;
  }
}

function writeProc(path: string, text: string, name: string): void {
  try {
    // No O_CREAT: a handler removed meanwhile is ENOENT, not a new file.
    const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') {
      throw new BinfmtError('BINFMT_NOT_ROOT', `the kernel refused writing ${path} (${errno}): run as root on the host, not inside a container or user namespace`, { cause, name, errno });
    }
    throw new BinfmtError('BINFMT_REGISTER_FAILED', `writing ${JSON.stringify(text)} to ${path} failed (${errno ?? (cause as Error).message})`, { cause, name, errno, line: text });
  }
}

function requireRoot(what: string, command: string): void {
  if (process.getuid?.() !== 0) throw new BinfmtError('BINFMT_NOT_ROOT', `${what} needs root (it changes the whole machine): run \`sudo ${command}\``);
}
