/**
 * Foreign platforms: what this kernel does with an ELF of some platform
 * (natively, through a binfmt_misc handler such as a QEMU user-mode
 * emulator, or not at all), and registering Debian's qemu-user-static
 * handlers with the `F` flag so they work inside a sandbox whose root is
 * an image (the kernel opens the interpreter at registration instead of
 * looking it up in the build's root filesystem at every exec).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../errors.ts';
import { findTool } from './probe.ts';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
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

/** The part of an OCI platform that decides what runs it (lib/sandbox does not import oci/). */
export interface BinfmtPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One handler as the kernel shows it in `DIR/NAME`. */
export interface BinfmtEntry {
  name: string;
  enabled: boolean;
  interpreter: string;
  /** The kernel's flag letters in its order (`POCF` subset), e.g. `POF`. */
  flags: string;
  /** Set for extension (`E`) handlers, which never match an ELF header. */
  extension?: string;
  offset: number;
  magic: Buffer;
  /** Empty when the handler has none (every magic byte must match). */
  mask: Buffer;
}

export interface BinfmtState {
  /** `DIR/status` exists: binfmt_misc is mounted there. */
  mounted: boolean;
  /** `status` says `enabled` (a global switch; disabled handlers match nothing). */
  enabled: boolean;
  entries: BinfmtEntry[];
}

export type Emulation =
  | { kind: 'native' }
  | { kind: 'emulated'; entry: BinfmtEntry }
  /** `reason`: a few words for a table; `fix`: what to do; `message`: one line with the platform, this machine, the problem and the fix. */
  | { kind: 'missing'; reason: string; fix: string; message: string };

interface ElfArch {
  bits: 32 | 64;
  endian: 'le' | 'be';
  machine: number;
}

/** ELF class, byte order and e_machine of each OCI architecture (variants do not change the header). */
const ELF_ARCH: Readonly<Record<string, ElfArch>> = {
  amd64: { bits: 64, endian: 'le', machine: 0x3e },
  '386': { bits: 32, endian: 'le', machine: 0x03 },
  arm64: { bits: 64, endian: 'le', machine: 0xb7 },
  arm: { bits: 32, endian: 'le', machine: 0x28 },
  ppc64le: { bits: 64, endian: 'le', machine: 0x15 },
  ppc64: { bits: 64, endian: 'be', machine: 0x15 },
  s390x: { bits: 64, endian: 'be', machine: 0x16 },
  riscv64: { bits: 64, endian: 'le', machine: 0xf3 },
  mips64le: { bits: 64, endian: 'le', machine: 0x08 },
  mips64: { bits: 64, endian: 'be', machine: 0x08 },
  mipsle: { bits: 32, endian: 'le', machine: 0x08 },
  mips: { bits: 32, endian: 'be', machine: 0x08 },
  loong64: { bits: 64, endian: 'le', machine: 0x102 },
};

/** The platforms `kiln binfmt` reports on, in its table's order. */
export const BINFMT_PLATFORMS: readonly BinfmtPlatform[] = [
  { os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: '386' }, { os: 'linux', architecture: 'arm64' },
  { os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' },
  { os: 'linux', architecture: 'ppc64le' }, { os: 'linux', architecture: 's390x' }, { os: 'linux', architecture: 'riscv64' },
  { os: 'linux', architecture: 'mips64le' }, { os: 'linux', architecture: 'loong64' },
];

const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le', mipsel: 'mipsle',
};

/** This machine's architecture in OCI terms (Node's `process.arch` mapped). */
export function hostArchitecture(): string {
  return NODE_ARCH[process.arch] ?? process.arch;
}

/** Architectures the kernel of a `host` machine runs without help: its own, and 32-bit x86 on amd64. */
export function nativeArchitectures(host: string): string[] {
  return host === 'amd64' ? ['amd64', '386'] : [host];
}

export function formatBinfmtPlatform(p: BinfmtPlatform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/**
 * The first 128 bytes the kernel would read from an ELF of `architecture`
 * (e_type 2, EXEC, or 3, DYN: a PIE), or undefined for an architecture
 * kiln has no table entry for.
 */
export function elfHeader(architecture: string, type: 2 | 3): Buffer | undefined {
  const a = ELF_ARCH[architecture];
  if (a === undefined) return undefined;
  const b = Buffer.alloc(128);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = a.bits === 64 ? 2 : 1;
  b[5] = a.endian === 'le' ? 1 : 2;
  b[6] = 1;
  if (a.endian === 'le') {
    b.writeUInt16LE(type, 16);
    b.writeUInt16LE(a.machine, 18);
    b.writeUInt32LE(1, 20);
  } else {
    b.writeUInt16BE(type, 16);
    b.writeUInt16BE(a.machine, 18);
    b.writeUInt32BE(1, 20);
  }
  return b;
}

/** Whether the kernel would hand a file starting with `head` to this handler (enabled or not). */
export function entryMatches(e: Pick<BinfmtEntry, 'extension' | 'offset' | 'magic' | 'mask'>, head: Buffer): boolean {
  if (e.extension !== undefined || e.magic.length === 0 || e.offset + e.magic.length > head.length) return false;
  for (let i = 0; i < e.magic.length; i++) {
    if (((head[e.offset + i]! ^ e.magic[i]!) & (e.mask[i] ?? 0xff)) !== 0) return false;
  }
  return true;
}

/**
 * Reads binfmt_misc as the kernel shows it: `status` and one file per
 * handler. A folder without `status` is binfmt_misc not mounted (the
 * empty /proc/sys/fs/binfmt_misc of a fresh boot). Files that are not
 * handlers, or vanish while being read, are left out.
 */
export function readBinfmt(dir = BINFMT_DIR): BinfmtState {
  let status: string;
  try {
    status = readFileSync(join(dir, 'status'), 'utf8').trim();
  } catch {
    return { mounted: false, enabled: false, entries: [] };
  }
  const entries: BinfmtEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'status' || name === 'register') continue;
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'utf8');
    } catch {
      continue;
    }
    const e = parseBinfmtEntry(name, text);
    if (e !== undefined) entries.push(e);
  }
  return { mounted: true, enabled: status === 'enabled', entries };
}

/** One handler file (`enabled`, `interpreter X`, `flags: POF`, `offset 0`, `magic 7f45…`, `mask ff…` or `extension .x`). */
export function parseBinfmtEntry(name: string, text: string): BinfmtEntry | undefined {
  const [state, ...lines] = text.split('\n');
  if (state !== 'enabled' && state !== 'disabled') return undefined;
  const e: BinfmtEntry = { name, enabled: state === 'enabled', interpreter: '', flags: '', offset: 0, magic: Buffer.alloc(0), mask: Buffer.alloc(0) };
  for (const line of lines) {
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    if (key === 'interpreter') e.interpreter = value;
    else if (key === 'flags:') e.flags = value.trim();
    else if (key === 'extension') e.extension = value;
    else if (key === 'offset') {
      if (!/^\d+$/.test(value)) return undefined;
      e.offset = Number(value);
    } else if (key === 'magic' || key === 'mask') {
      if (!/^(?:[0-9a-f]{2})*$/i.test(value)) return undefined;
      e[key] = Buffer.from(value, 'hex');
    }
  }
  return e;
}

export interface EmulationOptions {
  dir?: string;
  /** The machine's OCI architecture (default: this one's). */
  host?: string;
  /** An already read state (several platforms checked against one reading). */
  state?: BinfmtState;
}

const INSTALL = 'install qemu-user-static and run `kiln binfmt --install` as root';
const REINSTALL = 'run `kiln binfmt --install` as root';

/**
 * How a RUN step of `platform` would execute here, decided by what the
 * kernel would do with an ELF of that platform: its own architecture (and
 * 386 on amd64) natively; otherwise through an enabled binfmt_misc handler
 * matching both an EXEC and a DYN header, usable only with the `F` flag
 * and an interpreter present on the host. Anything else is `missing`, with
 * a one-line message naming the platform, this machine and the fix.
 */
export function emulationFor(platform: BinfmtPlatform, opts: EmulationOptions = {}): Emulation {
  const host = opts.host ?? hostArchitecture();
  const dir = opts.dir ?? BINFMT_DIR;
  const what = `RUN needs to execute ${formatBinfmtPlatform(platform)} binaries on this linux/${host} machine`;
  const missing = (reason: string, problem: string, fix: string): Emulation => ({ kind: 'missing', reason, fix, message: `${what} and ${problem}: ${fix}` });
  if (platform.os !== 'linux') return missing('not a Linux platform', 'kiln runs only Linux binaries', 'build this stage for a linux platform');
  if (nativeArchitectures(host).includes(platform.architecture)) return { kind: 'native' };
  const heads = [elfHeader(platform.architecture, 2), elfHeader(platform.architecture, 3)];
  if (heads[0] === undefined || heads[1] === undefined) {
    const known = Object.keys(ELF_ARCH).join(', ');
    return missing('unknown architecture', `kiln does not know the ELF machine of architecture ${JSON.stringify(platform.architecture)}`, `use one of ${known}`);
  }
  const [execHead, dynHead] = heads as [Buffer, Buffer];
  const state = opts.state ?? readBinfmt(dir);
  if (!state.mounted) return missing('binfmt_misc not mounted', `binfmt_misc is not mounted on ${dir}`, `${INSTALL} (it mounts it)`);
  if (!state.enabled) return missing('binfmt_misc disabled', `binfmt_misc is disabled (${dir}/status)`, REINSTALL);
  const exec = state.entries.filter((e) => e.enabled && entryMatches(e, execHead));
  const dyn = state.entries.filter((e) => e.enabled && entryMatches(e, dynHead));
  if (exec.length === 0 && dyn.length === 0) {
    const off = state.entries.find((e) => !e.enabled && (entryMatches(e, execHead) || entryMatches(e, dynHead)));
    if (off !== undefined) return missing(`${off.name} disabled`, `its emulator ${off.name} is disabled`, fixFor(off, dir));
    return missing('not registered', 'no emulator is registered for them', INSTALL);
  }
  if (exec.length === 0 || dyn.length === 0) {
    const only = (exec[0] ?? dyn[0])!;
    const kind = exec.length === 0 ? 'position-independent (DYN)' : 'fixed-address (EXEC)';
    return missing(`${only.name} matches only ${exec.length === 0 ? 'DYN' : 'EXEC'}`, `its emulator ${only.name} handles only ${kind} executables`, fixFor(only, dir));
  }
  // The kernel tries the newest handler first and that order is not visible: every candidate must work.
  for (const e of new Set([...exec, ...dyn])) {
    if (!e.flags.includes('F')) {
      return missing(`${e.name} lacks the F flag`, `its emulator ${e.name} is registered without the F flag (${e.interpreter} would be looked up inside the build's root filesystem)`, fixFor(e, dir));
    }
    if (!existsSync(e.interpreter)) {
      return missing(`${e.interpreter} does not exist`, `the interpreter of its emulator ${e.name}, ${e.interpreter}, does not exist on this machine`, fixFor(e, dir));
    }
  }
  return { kind: 'emulated', entry: exec[0]! };
}

/** `kiln binfmt --install` replaces the qemu-* handlers; another one must go first. */
function fixFor(e: BinfmtEntry, dir: string): string {
  return e.name.startsWith('qemu-') ? REINSTALL : `remove ${e.name} (\`echo -1 > ${join(dir, e.name)}\`) and ${INSTALL}`;
}

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
