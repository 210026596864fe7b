/**
 * Per-instruction `--flag` validation with BuildKit's rules (instructions/
 * bflag.go): every flag must be declared by the instruction, `--x=v` for
 * string flags, `--x`/`--x=true|false` for booleans, repeatable list flags,
 * no other repeats. Also Go's duration syntax for HEALTHCHECK options.
 */
import { InstructionError } from './errors.ts';

type FlagKind = 'bool' | 'string' | 'strings';

/** Parsed values, keyed by flag name without dashes. */
export interface FlagValues {
  /** Flags that appeared, with their last value (bools as 'true'/'false'). */
  readonly used: ReadonlyMap<string, string>;
  /** Every value of each list flag, in order. */
  readonly lists: ReadonlyMap<string, string[]>;
}

/**
 * Validates `flags` (as collected by the parser, e.g. `--from=x`) against the
 * declared set. Throws FLAG_UNKNOWN ("unknown flag: --foo", with a "did you
 * mean" hint for a near miss) or FLAG_INVALID.
 */
export function parseFlags(flags: readonly string[], declared: Readonly<Record<string, FlagKind>>): FlagValues {
  const used = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const seen = new Map<string, number>();
  for (const flag of flags) {
    if (flag === '--') break;
    const eq = flag.indexOf('=');
    const flagName = eq === -1 ? flag : flag.slice(0, eq);
    const occurrence = seen.get(flagName) ?? 0;
    seen.set(flagName, occurrence + 1);
    try {
      parseFlag(flag, flagName, eq === -1 ? undefined : flag.slice(eq + 1), declared, used, lists);
    } catch (err) {
      throw err instanceof InstructionError ? err.at({ text: flagName, occurrence }) : err;
    }
  }
  return { used, lists };
}

function parseFlag(
  flag: string, flagName: string, value: string | undefined, declared: Readonly<Record<string, FlagKind>>,
  used: Map<string, string>, lists: Map<string, string[]>,
): void {
  if (!flag.startsWith('--')) throw new InstructionError('FLAG_INVALID', `arg should start with -- : ${flag}`);
  const name = flagName.slice(2);
  const kind = Object.hasOwn(declared, name) ? declared[name] : undefined;
  if (kind === undefined) {
    throw new InstructionError('FLAG_UNKNOWN', withSuggestion(`unknown flag: ${flagName}`, name, Object.keys(declared), true));
  }
  if (used.has(name) && kind !== 'strings') throw new InstructionError('FLAG_INVALID', `duplicate flag specified: ${flagName}`);
  used.set(name, flagValue(kind, flagName, value));
  if (kind === 'strings') lists.set(name, [...(lists.get(name) ?? []), value ?? '']);
}

/** Anchor for an error about the value of flag `--name` (its `occurrence`th use). */
export function flagAnchor(name: string, occurrence = 0): { text: string; occurrence: number } {
  return { text: `--${name}`, occurrence };
}

function flagValue(kind: FlagKind, flagName: string, value: string | undefined): string {
  if (kind !== 'bool') {
    if (value === undefined) throw new InstructionError('FLAG_INVALID', `missing a value on flag: ${flagName}`);
    return value;
  }
  if (value === '') throw new InstructionError('FLAG_INVALID', `missing a value on flag: ${flagName}`);
  const lower = (value ?? '').toLowerCase();
  if (lower === 'true' || lower === '') return 'true';
  if (lower === 'false') return 'false';
  throw new InstructionError('FLAG_INVALID', `expecting boolean value for flag ${flagName}, not: ${value ?? ''}`);
}

/**
 * BuildKit's suggest.WrapError: appends " (did you mean X?)" when an option is
 * within Levenshtein distance 2 of `value` (and not equal to it).
 */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive: boolean): string {
  const needle = caseSensitive ? value : value.toLowerCase();
  let best = '';
  let min = 3;
  for (const option of options) {
    const candidate = caseSensitive ? option : option.toLowerCase();
    if (candidate === needle) return message;
    const dist = levenshtein(needle, candidate);
    if (dist < min) {
      best = caseSensitive ? candidate : matchCase(candidate, value);
      min = dist;
    }
  }
  return best === '' ? message : `${message} (did you mean ${best}?)`;
}

function matchCase(option: string, original: string): string {
  if (original === original.toLowerCase()) return option.toLowerCase();
  if (original === original.toUpperCase()) return option.toUpperCase();
  return option;
}

function levenshtein(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[y.length] ?? 0;
}

const UNIT_NS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};
const COMPONENT = /([0-9]*)(?:\.([0-9]*))?([^0-9.]*)/y;
const MAX_NS = 2 ** 63 - 1;

/**
 * Go's time.ParseDuration: `[-+]?(\d*(\.\d*)?unit)+` or `0`, units ns us µs ms
 * s m h. Returns nanoseconds as a JS number (exact up to 2^53 ns). Throws a
 * plain Error with Go's message on bad input.
 */
export function parseGoDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new Error(`time: invalid duration ${goQuoteAscii(text)}`);
  let total = 0;
  for (let pos = 0; pos < rest.length; ) {
    COMPONENT.lastIndex = pos;
    const m = COMPONENT.exec(rest);
    const [whole = '', frac, unit = ''] = m === null ? [] : m.slice(1);
    if (m === null || (whole === '' && (frac === undefined || frac === ''))) {
      throw new Error(`time: invalid duration ${goQuoteAscii(text)}`);
    }
    if (unit === '') throw new Error(`time: missing unit in duration ${goQuoteAscii(text)}`);
    const scale = UNIT_NS[unit];
    if (scale === undefined) throw new Error(`time: unknown unit ${goQuoteAscii(unit)} in duration ${goQuoteAscii(text)}`);
    total += Number(whole === '' ? 0 : whole) * scale + (frac ? Number(`0.${frac}`) * scale : 0);
    pos = COMPONENT.lastIndex;
  }
  if (total > MAX_NS) throw new Error(`time: invalid duration ${goQuoteAscii(text)}`);
  return sign * Math.round(total);
}

function goQuoteAscii(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
