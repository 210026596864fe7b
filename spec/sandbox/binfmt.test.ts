/**
 * binfmt_misc, three ways:
 * - folders shaped like it (`status` and handler files in the kernel's own
 *   text, which the real-kernel tests check against a handler the kernel
 *   wrote), with the magic/mask of qemu's own registration lines
 *   (qemu/scripts/qemu-binfmt-conf.sh) as the independent side of the matcher;
 * - this kernel: installBinfmt(), a hand-made static aarch64 ELF (exit 42)
 *   run directly and in bubblewrap, a second install that changes nothing,
 *   handlers of test-only names replaced, left alone and removed. The qemu-*
 *   handlers stay registered: test files running beside this one use them;
 * - a fresh binfmt_misc instance of a user namespace (Linux ≥ 6.7), where
 *   `kiln binfmt --install` starts from nothing (mounting binfmt_misc itself)
 *   and `--uninstall` removes everything without touching the host's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINFMT_DIR, elfHeader, emulationFor, readBinfmt, type Emulation } from '../../lib/sandbox/binfmt.ts';
import { BinfmtError, installBinfmt, uninstallBinfmt } from '../../lib/sandbox/binfmt-install.ts';
import { KILN } from '../helpers/kiln.ts';

const isRoot = process.getuid?.() === 0;
const QEMU_AARCH64 = '/usr/bin/qemu-aarch64-static';
const hasQemu = existsSync(QEMU_AARCH64) && existsSync('/usr/lib/binfmt.d/qemu-aarch64.conf');

// qemu-binfmt-conf.sh's magic and mask, as hex.
const ELF_MASK = 'ffffffffffffff00fffffffffffffffffeffffff';
const QEMU = {
  aarch64: { magic: '7f454c460201010000000000000000000200b700', mask: ELF_MASK },
  arm: { magic: '7f454c460101010000000000000000000200' + '2800', mask: ELF_MASK },
  s390x: { magic: '7f454c4602020100000000000000000000020016', mask: 'fffffffffffffffcfffffffffffffffffffeffff' },
  riscv64: { magic: '7f454c460201010000000000000000000200f300', mask: ELF_MASK },
  x86_64: { magic: '7f454c4602010100000000000000000002003e00', mask: 'fffffffffffefe00fffffffffffffffffeffffff' },
  i386: { magic: '7f454c4601010100000000000000000002000300', mask: 'fffffffffffefe00fffffffffffffffffeffffff' },
};

interface Handler {
  enabled?: boolean;
  interpreter: string;
  flags: string;
  offset?: number;
  magic: string;
  mask?: string;
}

/** A handler file as the kernel writes it (checked against /proc below). */
function handlerText(h: Handler): string {
  return `${h.enabled === false ? 'disabled' : 'enabled'}\ninterpreter ${h.interpreter}\nflags: ${h.flags}\noffset ${h.offset ?? 0}\nmagic ${h.magic}\n${h.mask ? `mask ${h.mask}\n` : ''}`;
}

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-binfmt-'));
  temps.push(d);
  return d;
}

/** A folder shaped like a mounted binfmt_misc; handler values are handler files' text. */
function model(handlers: Record<string, string>, status = 'enabled'): string {
  const dir = temp();
  writeFileSync(join(dir, 'status'), `${status}\n`);
  writeFileSync(join(dir, 'register'), '');
  for (const [name, text] of Object.entries(handlers)) writeFileSync(join(dir, name), text);
  return dir;
}

/** An existing file to name as interpreter (the checks only look that it exists). */
const interp = ((): string => {
  const p = join(temp(), 'qemu-static');
  writeFileSync(p, '');
  return p;
})();

const arm64 = { os: 'linux', architecture: 'arm64' };
const onAmd64 = { host: 'amd64' };

function missing(e: Emulation): { reason: string; message: string } {
  assert.equal(e.kind, 'missing', JSON.stringify(e));
  const m = e as Extract<Emulation, { kind: 'missing' }>;
  assert.doesNotMatch(m.message, /\n/);
  return m;
}

function emulatedBy(e: Emulation): string {
  assert.equal(e.kind, 'emulated', JSON.stringify(e));
  return (e as Extract<Emulation, { kind: 'emulated' }>).entry.name;
}

describe('binfmt_misc folders (parser and matcher)', () => {
  test('not mounted: no status file, or no folder at all', () => {
    for (const dir of [temp(), join(temp(), 'absent')]) {
      assert.deepEqual(readBinfmt(dir), { mounted: false, enabled: false, entries: [] });
      const m = missing(emulationFor(arm64, { dir, ...onAmd64 }));
      assert.equal(m.reason, 'binfmt_misc not mounted');
      assert.match(m.message, /^RUN needs to execute linux\/arm64 binaries on this linux\/amd64 machine and binfmt_misc is not mounted on .*: install qemu-user-static and run `kiln binfmt --install` as root/);
    }
  });

  test('nothing registered: one line naming the platform, the host and the fix', () => {
    const m = missing(emulationFor({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { dir: model({}), ...onAmd64 }));
    assert.equal(m.message, 'RUN needs to execute linux/arm64/v8 binaries on this linux/amd64 machine and no emulator is registered for them: install qemu-user-static and run `kiln binfmt --install` as root');
  });

  test('globally disabled (status says "disabled"): nothing matches', () => {
    const dir = model({ 'qemu-aarch64': handlerText({ interpreter: interp, flags: 'POF', ...QEMU.aarch64 }) }, 'disabled');
    assert.equal(readBinfmt(dir).enabled, false);
    const m = missing(emulationFor(arm64, { dir, ...onAmd64 }));
    assert.equal(m.reason, 'binfmt_misc disabled');
    assert.match(m.message, /binfmt_misc is disabled .*: run `kiln binfmt --install` as root$/);
  });

  test('a handler without F is missing: its interpreter would be looked up in the build\'s root', () => {
    const qemu = missing(emulationFor(arm64, { dir: model({ 'qemu-aarch64': handlerText({ interpreter: interp, flags: 'OC', ...QEMU.aarch64 }) }), ...onAmd64 }));
    assert.equal(qemu.reason, 'qemu-aarch64 lacks the F flag');
    assert.match(qemu.message, /registered without the F flag .*root filesystem\): run `kiln binfmt --install` as root$/);
    // Not kiln's to replace: the fix says how to remove it first.
    const dir = model({ aarch64: handlerText({ interpreter: interp, flags: 'P', ...QEMU.aarch64 }) });
    assert.match(missing(emulationFor(arm64, { dir, ...onAmd64 })).message, new RegExp(`: remove aarch64 \\(\`echo -1 > ${dir}/aarch64\`\\) and install qemu-user-static`));
  });

  test('a handler whose interpreter is gone from the host is missing', () => {
    const gone = join(temp(), 'qemu-aarch64-static');
    const m = missing(emulationFor(arm64, { dir: model({ 'qemu-aarch64': handlerText({ interpreter: gone, flags: 'F', ...QEMU.aarch64 }) }), ...onAmd64 }));
    assert.equal(m.reason, `${gone} does not exist`);
  });

  test('handlers are chosen by magic and mask, for both EXEC and DYN headers', () => {
    const dir = model({
      'qemu-aarch64': handlerText({ interpreter: interp, flags: 'POF', ...QEMU.aarch64 }),
      'qemu-arm': handlerText({ interpreter: interp, flags: 'F', ...QEMU.arm }),
      'qemu-s390x': handlerText({ interpreter: interp, flags: 'POCF', ...QEMU.s390x }),
      'qemu-riscv64': handlerText({ enabled: false, interpreter: interp, flags: 'F', ...QEMU.riscv64 }),
      // e_type pinned to 2 (mask byte 16 is ff): static executables only
      'exec-only-ppc64le': handlerText({ interpreter: interp, flags: 'F', magic: '7f454c460201010000000000000000000200' + '1500', mask: 'ffffffffffffff00ffffffffffffffffffffffff' }),
      'ext-handler': 'enabled\ninterpreter /bin/true\nflags: \nextension .arm64\n',
      'not-a-handler': 'hello\n',
    });
    assert.deepEqual(readBinfmt(dir).entries.map((e) => e.name), ['exec-only-ppc64le', 'ext-handler', 'qemu-aarch64', 'qemu-arm', 'qemu-riscv64', 'qemu-s390x']);
    const e = (architecture: string, variant?: string): Emulation => emulationFor({ os: 'linux', architecture, ...(variant ? { variant } : {}) }, { dir, ...onAmd64 });
    assert.equal(emulatedBy(e('arm64')), 'qemu-aarch64');
    for (const v of ['v5', 'v6', 'v7']) assert.equal(emulatedBy(e('arm', v)), 'qemu-arm');
    assert.equal(emulatedBy(e('s390x')), 'qemu-s390x');
    assert.equal(missing(e('riscv64')).reason, 'qemu-riscv64 disabled');
    assert.equal(missing(e('ppc64le')).reason, 'exec-only-ppc64le matches only EXEC');
    assert.equal(missing(e('mips64le')).reason, 'not registered');
    assert.equal(missing(e('loong64')).reason, 'not registered');
  });

  test('native: the host\'s own architecture, and 386 on amd64, whatever binfmt_misc says', () => {
    const dir = join(temp(), 'absent');
    assert.equal(emulationFor({ os: 'linux', architecture: 'amd64' }, { dir, host: 'amd64' }).kind, 'native');
    assert.equal(emulationFor({ os: 'linux', architecture: 'amd64', variant: 'v3' }, { dir, host: 'amd64' }).kind, 'native');
    assert.equal(emulationFor({ os: 'linux', architecture: '386' }, { dir, host: 'amd64' }).kind, 'native');
    assert.equal(emulationFor(arm64, { dir, host: 'arm64' }).kind, 'native');
    assert.equal(missing(emulationFor({ os: 'linux', architecture: '386' }, { dir, host: 'arm64' })).reason, 'binfmt_misc not mounted');
    // The qemu x86 handlers match an amd64 and a 386 ELF of ours (the independent side of the native-skip rule).
    const x86 = model({ 'qemu-x86_64': handlerText({ interpreter: interp, flags: 'F', ...QEMU.x86_64 }), 'qemu-i386': handlerText({ interpreter: interp, flags: 'F', ...QEMU.i386 }) });
    assert.equal(emulatedBy(emulationFor({ os: 'linux', architecture: 'amd64' }, { dir: x86, host: 'arm64' })), 'qemu-x86_64');
    assert.equal(emulatedBy(emulationFor({ os: 'linux', architecture: '386' }, { dir: x86, host: 'arm64' })), 'qemu-i386');
  });

  test('an unknown architecture or another OS is missing, with why', () => {
    const dir = model({});
    const unknown = missing(emulationFor({ os: 'linux', architecture: 'vax' }, { dir, ...onAmd64 }));
    assert.equal(unknown.reason, 'unknown architecture');
    assert.match(unknown.message, /ELF machine of architecture "vax": use one of 386, amd64, arm64, arm, /);
    const windows = missing(emulationFor({ os: 'windows', architecture: 'amd64' }, { dir, ...onAmd64 }));
    assert.match(windows.message, /^RUN needs to execute windows\/amd64 binaries on this linux\/amd64 machine and kiln runs only Linux binaries: /);
  });

  test('handler files parse field by field; a malformed one is left out', () => {
    const dir = model({
      'qemu-aarch64': handlerText({ interpreter: '/usr/libexec/qemu binfmt/aarch64', flags: 'POF', offset: 0, ...QEMU.aarch64 }),
      nomask: handlerText({ enabled: false, interpreter: '/x', flags: '', offset: 3, magic: '6162' }),
      badhex: handlerText({ interpreter: '/x', flags: '', magic: '7g' }),
    });
    const [nomask, qemu, ...rest] = readBinfmt(dir).entries;
    assert.deepEqual(rest, []);
    assert.deepEqual(qemu, { name: 'qemu-aarch64', enabled: true, interpreter: '/usr/libexec/qemu binfmt/aarch64', flags: 'POF', offset: 0, magic: Buffer.from(QEMU.aarch64.magic, 'hex'), mask: Buffer.from(ELF_MASK, 'hex') });
    assert.deepEqual(nomask, { name: 'nomask', enabled: false, interpreter: '/x', flags: '', offset: 3, magic: Buffer.from('ab'), mask: Buffer.alloc(0) });
  });

  test('uninstall writes -1 into the qemu-* handlers only (and only the named ones when asked)', { skip: !isRoot && 'needs root' }, () => {
    const make = (): string => model({ 'qemu-aarch64': handlerText({ interpreter: interp, flags: 'F', ...QEMU.aarch64 }), 'qemu-arm': handlerText({ interpreter: interp, flags: 'F', ...QEMU.arm }), python: handlerText({ interpreter: interp, flags: '', magic: 'a70d0d0a' }) });
    const all = make();
    assert.deepEqual(uninstallBinfmt({ dir: all }), ['qemu-aarch64', 'qemu-arm']);
    assert.deepEqual(['qemu-aarch64', 'qemu-arm', 'python'].map((n) => readFileSync(join(all, n), 'utf8').slice(0, 2)), ['-1', '-1', 'en']);
    const one = make();
    assert.deepEqual(uninstallBinfmt({ dir: one, names: ['qemu-arm', 'python'] }), ['qemu-arm']);
    assert.deepEqual(['qemu-aarch64', 'qemu-arm', 'python'].map((n) => readFileSync(join(one, n), 'utf8').slice(0, 2)), ['en', '-1', 'en']);
    assert.deepEqual(uninstallBinfmt({ dir: temp() }), []);
  });
});

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BinfmtError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('installBinfmt refusals (no change to the machine)', { skip: !isRoot && 'needs root' }, () => {
  test('no qemu-user-static: BINFMT_NO_EMULATORS, before anything is mounted', () => {
    const confDir = temp();
    const never = join(temp(), 'must-not-be-mounted');
    throwsCode(() => installBinfmt({ confDir, dir: never }), 'BINFMT_NO_EMULATORS', /apt-get install qemu-user-static/);
    writeFileSync(join(confDir, 'qemu-aarch64.conf'), `:qemu-aarch64:M::\\x7fELF::${join(temp(), 'not-installed')}:OPF\n`);
    throwsCode(() => installBinfmt({ confDir, dir: never }), 'BINFMT_NO_EMULATORS');
    assert.equal(existsSync(never), false);
  });

  test('binfmt_misc that cannot be mounted: BINFMT_MOUNT_FAILED with mount\'s words', () => {
    const confDir = temp();
    writeFileSync(join(confDir, 'qemu-aarch64.conf'), `:qemu-aarch64:M::\\x7fELF::${interp}:OPF\n`);
    throwsCode(() => installBinfmt({ confDir, dir: join(temp(), 'no', 'such', 'dir') }), 'BINFMT_MOUNT_FAILED', /cannot mount binfmt_misc on .*no\/such\/dir: .+/);
  });
});

// --- a hand-made static aarch64 program: exit(42) ---------------------------------

/** ELF64 header + one PT_LOAD + `mov x0,#42; mov x8,#93; svc #0` (exit(42)), loaded at 0x400000. */
function aarch64Exit42(): Buffer {
  const code = [0xd2800540, 0xd2800ba8, 0xd4000001];
  const size = 64 + 56 + code.length * 4;
  const base = 0x400000n;
  const b = Buffer.alloc(size);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1; // EV_CURRENT
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0xb7, 18); // EM_AARCH64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(base + 120n, 24); // e_entry: the code after the headers
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeUInt16LE(64, 52); // e_ehsize
  b.writeUInt16LE(56, 54); // e_phentsize
  b.writeUInt16LE(1, 56); // e_phnum
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // R+X
  b.writeBigUInt64LE(0n, 72); // p_offset
  b.writeBigUInt64LE(base, 80);
  b.writeBigUInt64LE(base, 88);
  b.writeBigUInt64LE(BigInt(size), 96);
  b.writeBigUInt64LE(BigInt(size), 104);
  b.writeBigUInt64LE(0x1000n, 112);
  code.forEach((c, i) => b.writeUInt32LE(c, 120 + i * 4));
  return b;
}

/** A folder holding only /prog, the program above; readelf confirms what it is. */
function progRoot(): string {
  const root = temp();
  writeFileSync(join(root, 'prog'), aarch64Exit42());
  chmodSync(join(root, 'prog'), 0o755);
  const h = spawnSync('readelf', ['-h', join(root, 'prog')], { encoding: 'utf8' });
  if (h.status === 0) {
    assert.match(h.stdout, /Machine:\s+AArch64/);
    assert.match(h.stdout, /Type:\s+EXEC/);
    assert.match(h.stdout, /Entry point address:\s+0x400078/);
  }
  return root;
}

/** Whether the kernel would hand a file starting with `head` to the handler in `text` (an independent reading of the file). */
function kernelWouldUse(text: string, head: Buffer): boolean {
  const magic = /^magic ([0-9a-f]+)$/m.exec(text)?.[1];
  if (!text.startsWith('enabled\n') || magic === undefined) return false;
  const offset = Number(/^offset (\d+)$/m.exec(text)![1]);
  const m = Buffer.from(magic, 'hex');
  const k = Buffer.from(/^mask ([0-9a-f]+)$/m.exec(text)?.[1] ?? 'ff'.repeat(m.length), 'hex');
  return m.every((byte, i) => ((head[offset + i]! ^ byte) & k[i]!) === 0);
}

function handlers(): Map<string, string> {
  return new Map(readdirSync(BINFMT_DIR).filter((n) => n !== 'status' && n !== 'register').map((n) => [n, readFileSync(join(BINFMT_DIR, n), 'utf8')]));
}

describe('binfmt_misc on this kernel', { skip: (!isRoot && 'needs root') || (!hasQemu && 'needs qemu-user-static (apt-get install qemu-user-static)') }, () => {
  let first: ReturnType<typeof installBinfmt>;
  before(() => {
    first = installBinfmt();
  });

  test('qemu-aarch64 is registered enabled with F, in the text the folder model above uses', () => {
    const conf = readFileSync('/usr/lib/binfmt.d/qemu-aarch64.conf', 'utf8').trim().split(':');
    const outcome = first.outcomes.find((o) => o.name === 'qemu-aarch64');
    assert.ok(outcome?.status === 'registered' || outcome?.status === 'already', JSON.stringify(outcome));
    const text = readFileSync(join(BINFMT_DIR, 'qemu-aarch64'), 'utf8');
    assert.match(text, /^enabled\n/);
    assert.match(text, /^flags: \w*F\w*$/m);
    assert.equal(text, handlerText({ interpreter: conf[6]!, flags: 'POF', ...QEMU.aarch64 }));
    assert.deepEqual(readFileSync(join(BINFMT_DIR, 'status'), 'utf8'), 'enabled\n');
  });

  test('no handler would capture this machine\'s own binaries (an EXEC and a DYN one)', () => {
    const own = [realpathSync(process.execPath), realpathSync('/bin/true')];
    const types = own.map((f) => /Type:\s+(\w+)/.exec(spawnSync('readelf', ['-h', f], { encoding: 'utf8' }).stdout)?.[1]);
    assert.ok(types.includes('EXEC') || types.includes('DYN'), String(types));
    for (const file of own) {
      const head = Buffer.alloc(256);
      const fd = openSync(file, 'r');
      readSync(fd, head, 0, 256, 0);
      closeSync(fd);
      for (const [name, text] of handlers()) assert.equal(kernelWouldUse(text, head), false, `${name} would run ${file}`);
    }
    // And the aarch64 program is the qemu-aarch64 handler's, by the same reading.
    const prog = aarch64Exit42();
    assert.deepEqual([...handlers()].filter(([, t]) => kernelWouldUse(t, prog)).map(([n]) => n), ['qemu-aarch64']);
  });

  test('a second install changes nothing', () => {
    const before = handlers();
    const again = installBinfmt();
    assert.deepEqual(again.outcomes.filter((o) => o.status === 'registered'), []);
    assert.ok(again.outcomes.some((o) => o.name === 'qemu-aarch64' && o.status === 'already'));
    assert.equal(again.mounted || again.enabled, false);
    assert.deepEqual(handlers(), before);
  });

  test('a hand-made static aarch64 ELF exits 42 directly and inside bubblewrap; emulationFor says emulated', () => {
    const root = progRoot();
    assert.deepEqual(elfHeader('arm64', 2)!.subarray(0, 24), aarch64Exit42().subarray(0, 24));
    const direct = spawnSync(join(root, 'prog'));
    assert.equal(direct.status, 42, String(direct.error ?? direct.stderr));
    const bwrap = spawnSync('bwrap', ['--die-with-parent', '--unshare-pid', '--ro-bind', root, '/', '/prog'], { encoding: 'utf8' });
    assert.equal(bwrap.status, 42, bwrap.error ? String(bwrap.error) : bwrap.stderr);
    const e = emulationFor(arm64);
    assert.equal(emulatedBy(e), 'qemu-aarch64');
  });

  test('test-only handlers (a magic no file has): a differing one is replaced, a right one left alone', () => {
    const tag = `kilntest${process.pid}`;
    const name = `qemu-${tag}`;
    const magic = `\\x7fKILN${[...Buffer.from(tag)].map((b) => `\\x${b.toString(16)}`).join('')}`;
    const confDir = temp();
    const line = (n: string, m: string, interpreter: string, flags: string): string => `:${n}:M::${m}::${interpreter}:${flags}\n`;
    writeFileSync(join(confDir, `${name}.conf`), `# a comment\n\n${line(name, magic, QEMU_AARCH64, 'OP')}`);
    writeFileSync(join(confDir, `${name}-gone.conf`), line(`${name}-gone`, `${magic}\\x01`, '/usr/bin/qemu-kiln-none-static', 'F'));
    writeFileSync(join(confDir, `${name}-bad.conf`), ':no-interpreter:M::\\x7f\n');
    const register = (l: string): void => writeFileSync(join(BINFMT_DIR, 'register'), l);
    const status = (): Record<string, string> =>
      Object.fromEntries(installBinfmt({ confDir }).outcomes.map((o) => [o.name, o.status === 'registered' ? `registered${o.replaced ? ` (${o.replaced})` : ''}` : o.status === 'skipped' ? `skipped: ${o.reason}` : o.status]));
    const flags = (): string => /^flags: (\w*)$/m.exec(readFileSync(join(BINFMT_DIR, name), 'utf8'))![1]!;
    try {
      register(line(name, magic, QEMU_AARCH64, 'OP')); // as Debian's line without F would be
      assert.deepEqual(status(), {
        [name]: 'registered (it had no F flag)',
        [`${name}-bad.conf`]: 'skipped: not a binfmt_misc registration line: ":no-interpreter:M::\\\\x7f"',
        [`${name}-gone`]: 'skipped: /usr/bin/qemu-kiln-none-static is not installed',
      });
      assert.equal(flags(), 'POF');
      assert.equal(status()[name], 'already');
      writeFileSync(join(BINFMT_DIR, name), '0'); // disabled
      assert.equal(status()[name], 'registered (it was disabled)');
      writeFileSync(join(BINFMT_DIR, name), '-1');
      register(line(name, magic, '/usr/bin/qemu-arm-static', 'POF'));
      assert.equal(status()[name], 'registered (it ran /usr/bin/qemu-arm-static)');
      assert.match(readFileSync(join(BINFMT_DIR, name), 'utf8'), new RegExp(`^interpreter ${QEMU_AARCH64}$`, 'm'));
      assert.deepEqual(uninstallBinfmt({ names: [name, 'not-qemu'] }), [name]);
      assert.equal(existsSync(join(BINFMT_DIR, name)), false);
      assert.ok(existsSync(join(BINFMT_DIR, 'qemu-aarch64')));
    } finally {
      if (existsSync(join(BINFMT_DIR, name))) writeFileSync(join(BINFMT_DIR, name), '-1');
    }
  });
});

// --- a binfmt_misc instance of its own: from nothing, and back --------------------

/** Runs `script` (sh) as root of a new user and mount namespace; $KILN is the kiln command. */
function inUserns(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script], { encoding: 'utf8', env: { ...process.env, KILN: `${process.execPath} ${KILN}` } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ownInstance = isRoot && hasQemu && inUserns('mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc').status === 0;

describe('a binfmt_misc of its own (user namespace)', { skip: !ownInstance && 'needs root, qemu-user-static and a kernel with binfmt_misc in user namespaces (6.7+)' }, () => {
  test('kiln binfmt --install mounts binfmt_misc and registers; the program runs; --uninstall removes them all; it no longer runs', () => {
    const root = progRoot();
    const prog = join(root, 'prog');
    // An empty tmpfs hides the host's binfmt_misc: to kiln, nothing is mounted.
    const r = inUserns(`set -e
      mount -t tmpfs none /proc/sys/fs/binfmt_misc
      $KILN binfmt --format json > ${root}/before.json
      $KILN binfmt --install --format json > ${root}/install.json
      set +e; ${prog}; echo "exit $?" > ${root}/ran; set -e
      $KILN binfmt --uninstall --format json > ${root}/uninstall.json
      ls /proc/sys/fs/binfmt_misc > ${root}/left
      ${prog} 2> ${root}/enoexec || echo "exit $?" > ${root}/ran-after`);
    assert.equal(r.status, 0, r.stderr);
    const read = (f: string): { supported: string[]; emulators: string[]; installed?: { mounted: boolean; outcomes: { name: string; status: string }[] }; removed?: string[] } => JSON.parse(readFileSync(join(root, f), 'utf8'));
    const before = read('before.json');
    assert.deepEqual([before.supported, before.emulators], [['linux/amd64', 'linux/386'], []]);
    const install = read('install.json');
    assert.equal(install.installed!.mounted, true);
    const registered = install.installed!.outcomes.filter((o) => o.status === 'registered').map((o) => o.name);
    const confs = readdirSync('/usr/lib/binfmt.d').filter((f) => /^qemu-.*\.conf$/.test(f)).map((f) => f.slice(0, -5));
    assert.ok(registered.includes('qemu-aarch64') && registered.includes('qemu-arm') && registered.includes('qemu-s390x'), String(registered));
    assert.deepEqual(install.emulators, registered);
    assert.ok(registered.every((n) => confs.includes(n)));
    assert.ok(install.supported.includes('linux/arm64') && install.supported.includes('linux/riscv64'), String(install.supported));
    assert.equal(readFileSync(join(root, 'ran'), 'utf8'), 'exit 42\n');
    assert.deepEqual(read('uninstall.json').removed, registered);
    assert.deepEqual(read('uninstall.json').supported, ['linux/amd64', 'linux/386']);
    assert.deepEqual(readFileSync(join(root, 'left'), 'utf8').split('\n').filter(Boolean), ['register', 'status']);
    assert.match(readFileSync(join(root, 'enoexec'), 'utf8'), /Exec format error/);
    assert.equal(readFileSync(join(root, 'ran-after'), 'utf8'), 'exit 126\n');
    // The host's handlers were not touched.
    assert.ok(existsSync(join(BINFMT_DIR, 'qemu-aarch64')));
  });

  // Here, where a wrong registration would capture only this namespace's own programs.
  test('qemu\'s x86_64 and i386 lines are never registered on amd64 (they would capture every native binary)', { skip: process.arch !== 'x64' && 'the native lines here are x86\'s' }, () => {
    const confDir = temp();
    const hex = (h: string): string => h.replace(/../g, '\\x$&');
    writeFileSync(join(confDir, 'qemu-x86_64.conf'), `:qemu-x86_64:M::${hex(QEMU.x86_64.magic)}:${hex(QEMU.x86_64.mask)}:${QEMU_AARCH64}:OPF\n`);
    writeFileSync(join(confDir, 'qemu-i386.conf'), `:qemu-i386:M::${hex(QEMU.i386.magic)}:${hex(QEMU.i386.mask)}:${QEMU_AARCH64}:F\n`);
    writeFileSync(join(confDir, 'qemu-aarch64.conf'), readFileSync('/usr/lib/binfmt.d/qemu-aarch64.conf'));
    const r = inUserns(`set -e
      mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
      mount --bind ${confDir} /usr/lib/binfmt.d
      $KILN binfmt --install --format json > ${confDir}/install.json
      ls /proc/sys/fs/binfmt_misc > ${confDir}/left
      /bin/true && echo native-ok > ${confDir}/ran`);
    assert.equal(r.status, 0, r.stderr);
    const install = JSON.parse(readFileSync(join(confDir, 'install.json'), 'utf8')) as { installed: { outcomes: { name: string; status: string; reason?: string }[] } };
    assert.deepEqual(install.installed.outcomes.map((o) => `${o.name} ${o.status}${o.reason ? `: ${o.reason}` : ''}`), [
      'qemu-aarch64 registered',
      "qemu-i386 skipped: it would capture this machine's own amd64 binaries",
      "qemu-x86_64 skipped: it would capture this machine's own amd64 binaries",
    ]);
    assert.deepEqual(readFileSync(join(confDir, 'left'), 'utf8').split('\n').filter(Boolean), ['qemu-aarch64', 'register', 'status']);
    assert.equal(readFileSync(join(confDir, 'ran'), 'utf8'), 'native-ok\n');
  });
});
