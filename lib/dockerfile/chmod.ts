/**
 * `COPY/ADD --chmod=` values: an octal number up to 07777, or a symbolic mode
 * as BuildKit accepts it (the frontend's convert_copy.go, then fsutil applying
 * tonistiigi/dchapes-mode with umask 0 — BSD setmode(3) semantics). Pure
 * data plus `applyChmod`, so the same spec gives the same result anywhere.
 *
 * Known differences from GNU chmod(1), on purpose (BuildKit is the model):
 * there is no umask (`+x` = `a+x`); `X` tests the mode the file had BEFORE
 * the whole spec (BSD), not the mode reached so far (GNU); and consecutive
 * `+`/`-`/`X` operations are merged (BSD's compress) before they apply.
 */
import { DockerfileError, InstructionError } from './errors.ts';
import type { SourceLocation } from '../errors.ts';

/** One compiled operation (BSD's bitcmd). */
export interface ChmodOp {
  /** `+` set bits, `-` clear bits, `X` set bits if executable/dir, `u`/`g`/`o` copy that class. */
  cmd: '+' | '-' | 'X' | 'u' | 'g' | 'o';
  /** For copies: which of CLEAR/SET/to-u/to-g/to-o apply (bit flags, see CMD2_*). */
  cmd2: number;
  /** Affected bits (12-bit Unix mode). */
  bits: number;
}

/** A parsed `--chmod` value. Apply it with `applyChmod`. */
export type ChmodSpec =
  | { kind: 'octal'; mode: number }
  | { kind: 'symbolic'; text: string; ops: ChmodOp[] };

const CMD2_CLEAR = 1;
const CMD2_SET = 2;
const CMD2_GBITS = 4;
const CMD2_OBITS = 8;
const CMD2_UBITS = 16;

const IS_UID = 0o4000;
const IS_GID = 0o2000;
const IS_TXT = 0o1000;
const RWXU = 0o700;
const RWXG = 0o070;
const RWXO = 0o007;
const R_ALL = 0o444;
const W_ALL = 0o222;
const X_ALL = 0o111;
const STANDARD = IS_UID | IS_GID | RWXU | RWXG | RWXO;
const ALL = 0xffff;

/**
 * Parses a `--chmod` value (after expansion). Throws DockerfileError
 * FLAG_INVALID at `location`: BuildKit's `invalid chmod parameter: '…'. it should be octal
 * string and between 0 and 07777` for anything that starts with a digit and
 * is not such a number, and `invalid chmod parameter: '…': invalid syntax`
 * for a bad symbolic mode (BuildKit says only "invalid syntax").
 */
export function parseChmod(text: string, location?: SourceLocation): ChmodSpec {
  try {
    return readChmod(text);
  } catch (err) {
    if (err instanceof InstructionError) throw new DockerfileError(err.code, err.message, location);
    throw err;
  }
}

/** parseChmod for the converters: throws InstructionError, which they locate. */
export function readChmod(text: string): ChmodSpec {
  const nonOctal = (): never => {
    throw new InstructionError('FLAG_INVALID', `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`);
  };
  if (/^[0-7]+$/.test(text)) {
    const mode = parseInt(text, 8);
    return mode > 0o7777 ? nonOctal() : { kind: 'octal', mode };
  }
  const first = text.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) nonOctal();
  const ops = parseSymbolic(text);
  if (ops === undefined) throw new InstructionError('FLAG_INVALID', `invalid chmod parameter: '${text}': invalid syntax`);
  return { kind: 'symbolic', text, ops };
}

/** Whether `text` is a valid `--chmod` value (see parseChmod). */
export function isValidChmod(text: string): boolean {
  try {
    parseChmod(text);
    return true;
  } catch {
    return false;
  }
}

/** BSD setmode's clause parser with umask 0; undefined on a syntax error. */
function parseSymbolic(spec: string): ChmodOp[] | undefined {
  const ops: ChmodOp[] = [];
  let s = spec;
  let equalOpDone = false;
  for (;;) {
    let who = 0;
    for (;; s = s.slice(1)) {
      if (s === '') return undefined;
      const c = s[0];
      if (c === 'a') who |= STANDARD;
      else if (c === 'u') who |= IS_UID | RWXU;
      else if (c === 'g') who |= IS_GID | RWXG;
      else if (c === 'o') who |= RWXO;
      else break;
    }
    for (;;) {
      const op = s[0] ?? '';
      s = s.slice(1);
      if (op === '=') equalOpDone = false;
      else if (op !== '+' && op !== '-') return undefined;
      who &= ~IS_TXT;
      [s, who, equalOpDone] = permClause(ops, s, op, who, equalOpDone);
      if (s === '' || s[0] === ',') break;
    }
    if (s === '') break;
    s = s.slice(1);
  }
  return compress(ops);
}

/** The permission letters after one operator; returns the rest of the spec. */
function permClause(ops: ChmodOp[], spec: string, op: string, whoIn: number, equalIn: boolean): [string, number, boolean] {
  let s = spec;
  let who = whoIn;
  let equalOpDone = equalIn;
  let perm = 0;
  let permX = 0;
  for (;; s = s.slice(1)) {
    const b = s[0] ?? '';
    if (b === 'r') perm |= R_ALL;
    else if (b === 's') {
      if (who === 0 || (who & ~RWXO) !== 0) perm |= IS_UID | IS_GID;
    } else if (b === 't') {
      if (who === 0 || (who & ~RWXO) !== 0) {
        who |= IS_TXT;
        perm |= IS_TXT;
      }
    } else if (b === 'w') perm |= W_ALL;
    else if (b === 'X') {
      if (op !== '-') permX = X_ALL;
      else perm |= X_ALL;
    } else if (b === 'x') perm |= X_ALL;
    else if (b === 'u' || b === 'g' || b === 'o') {
      if (perm !== 0) {
        addOp(ops, op, who, perm);
        perm = 0;
      }
      if (op === '=') equalOpDone = true;
      if (permX !== 0) {
        addOp(ops, 'X', who, permX);
        permX = 0;
      }
      addCopy(ops, b, who, op);
    } else {
      if (perm !== 0 || (op === '=' && !equalOpDone)) {
        if (op === '=') equalOpDone = true;
        addOp(ops, op, who, perm);
      }
      if (permX !== 0) addOp(ops, 'X', who, permX);
      return [s, who, equalOpDone];
    }
  }
}

function addOp(ops: ChmodOp[], op: string, who: number, arg: number): void {
  let cmd = op;
  if (op === '=') {
    ops.push({ cmd: '-', cmd2: 0, bits: who !== 0 ? who : STANDARD });
    cmd = '+';
  }
  ops.push({ cmd: cmd as '+' | '-' | 'X', cmd2: 0, bits: who !== 0 ? who & arg : ALL & arg });
}

function addCopy(ops: ChmodOp[], from: 'u' | 'g' | 'o', who: number, op: string): void {
  let cmd2 = 0;
  let bits = ALL;
  if (who !== 0) {
    if (who & 0o400) cmd2 |= CMD2_UBITS;
    if (who & 0o040) cmd2 |= CMD2_GBITS;
    if (who & 0o004) cmd2 |= CMD2_OBITS;
  } else {
    cmd2 = CMD2_UBITS | CMD2_GBITS | CMD2_OBITS;
  }
  if (op === '+') cmd2 |= CMD2_SET;
  else if (op === '-') cmd2 |= CMD2_CLEAR;
  else cmd2 |= CMD2_SET | CMD2_CLEAR;
  ops.push({ cmd: from, cmd2, bits });
}

/** BSD's compress: each run of `+`/`-`/`X` becomes at most one `-`, one `+`, one `X`. */
function compress(ops: readonly ChmodOp[]): ChmodOp[] {
  const out: ChmodOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const first = ops[i];
    if (first === undefined) break;
    if (first.cmd !== '+' && first.cmd !== '-' && first.cmd !== 'X') {
      out.push(first);
      continue;
    }
    let set = 0;
    let clr = 0;
    let x = 0;
    for (; i < ops.length; i++) {
      const c = ops[i];
      if (c === undefined) break;
      if (c.cmd === '-') {
        clr |= c.bits;
        set &= ~c.bits;
        x &= ~c.bits;
      } else if (c.cmd === '+') {
        set |= c.bits;
        clr &= ~c.bits;
        x &= ~c.bits;
      } else if (c.cmd === 'X') {
        x |= c.bits & ~set;
      } else {
        i--;
        break;
      }
    }
    if (clr !== 0) out.push({ cmd: '-', cmd2: 0, bits: clr });
    if (set !== 0) out.push({ cmd: '+', cmd2: 0, bits: set });
    if (x !== 0) out.push({ cmd: 'X', cmd2: 0, bits: x });
  }
  return out;
}

/**
 * The mode a file or directory gets from `spec`: `mode` is its current
 * 12-bit Unix mode (permissions plus setuid 04000, setgid 02000, sticky
 * 01000), the result is in the same form. Octal specs replace the mode.
 */
export function applyChmod(spec: ChmodSpec, mode: number, isDir: boolean): number {
  if (spec.kind === 'octal') return spec.mode;
  const old = mode & 0o7777;
  let now = old;
  const copy = (c: ChmodOp, value: number): void => {
    if (c.cmd2 & CMD2_CLEAR) {
      const clear = c.cmd2 & CMD2_SET ? RWXO : value;
      if (c.cmd2 & CMD2_UBITS) now &= ~((clear << 6) & c.bits);
      if (c.cmd2 & CMD2_GBITS) now &= ~((clear << 3) & c.bits);
      if (c.cmd2 & CMD2_OBITS) now &= ~(clear & c.bits);
    }
    if (c.cmd2 & CMD2_SET) {
      if (c.cmd2 & CMD2_UBITS) now |= (value << 6) & c.bits;
      if (c.cmd2 & CMD2_GBITS) now |= (value << 3) & c.bits;
      if (c.cmd2 & CMD2_OBITS) now |= value & c.bits;
    }
  };
  for (const c of spec.ops) {
    if (c.cmd === 'u') copy(c, (now & RWXU) >> 6);
    else if (c.cmd === 'g') copy(c, (now & RWXG) >> 3);
    else if (c.cmd === 'o') copy(c, now & RWXO);
    else if (c.cmd === '+') now |= c.bits;
    else if (c.cmd === '-') now &= ~c.bits;
    else if ((old & X_ALL) !== 0 || isDir) now |= c.bits;
  }
  return now & 0o7777;
}
