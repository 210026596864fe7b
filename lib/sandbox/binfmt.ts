/**
 * Foreign platforms: what this kernel does with an ELF of some platform
 * (natively, through a binfmt_misc handler such as a QEMU user-mode
 * emulator, or not at all), and registering Debian's qemu-user-static
 * handlers with the `F` flag so they work inside a sandbox whose root is
 * an image (the kernel opens the interpreter at registration instead of
 * looking it up in the build's root filesystem at every exec).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';


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

export const INSTALL_HINT = 'install qemu-user-static and run `kiln binfmt --install` as root';
export const REINSTALL_HINT = 'run `kiln binfmt --install` as root';

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
  if (!state.mounted) return missing('binfmt_misc not mounted', `binfmt_misc is not mounted on ${dir}`, `${INSTALL_HINT} (it mounts it)`);
  if (!state.enabled) return missing('binfmt_misc disabled', `binfmt_misc is disabled (${dir}/status)`, REINSTALL_HINT);
  const exec = state.entries.filter((e) => e.enabled && entryMatches(e, execHead));
  const dyn = state.entries.filter((e) => e.enabled && entryMatches(e, dynHead));
  if (exec.length === 0 && dyn.length === 0) {
    const off = state.entries.find((e) => !e.enabled && (entryMatches(e, execHead) || entryMatches(e, dynHead)));
    if (off !== undefined) return missing(`${off.name} disabled`, `its emulator ${off.name} is disabled`, fixFor(off, dir));
    return missing('not registered', 'no emulator is registered for them', INSTALL_HINT);
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
  return e.name.startsWith('qemu-') ? REINSTALL_HINT : `remove ${e.name} (\`echo -1 > ${join(dir, e.name)}\`) and ${INSTALL_HINT}`;
}

