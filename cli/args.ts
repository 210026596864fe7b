/**
 * A small docker-style argument parser: `-t X`, `-tX`, `--tag X`,
 * `--tag=X`, repeatable options, boolean flags, `--` ends options.
 */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

export interface OptionSpec {
  /** Long name without dashes (`tag`). */
  name: string;
  short?: string;
  /** Takes a value (`-t X`); otherwise a boolean flag. */
  value?: boolean;
  repeat?: boolean;
}

export interface Parsed {
  values: Map<string, string[]>;
  flags: Set<string>;
  positional: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const out: Parsed = { values: new Map(), flags: new Set(), positional: [] };
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
      spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
    } else if (a.startsWith('-') && a.length > 1) {
      spec = byShort.get(a[1]!);
      if (!spec) throw new UsageError(`unknown shorthand flag: '${a[1]}' in ${a}`);
      if (a.length > 2) inline = a.slice(2).replace(/^=/, '');
    } else {
      out.positional.push(a);
      continue;
    }
    if (!spec.value) {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new UsageError(`invalid argument ${JSON.stringify(inline)} for --${spec.name}`);
      if (inline === 'false') out.flags.delete(spec.name);
      else out.flags.add(spec.name);
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UsageError(`flag needs an argument: --${spec.name}`);
    const list = out.values.get(spec.name) ?? [];
    if (!spec.repeat) list.length = 0;
    list.push(v);
    out.values.set(spec.name, list);
  }
  return out;
}

/** Parses buildx's `-o type=oci,dest=out.tar` form into key/values; a bare path means `type=local,dest=PATH`. */
export function parseCsvOption(s: string): Map<string, string> {
  const m = new Map<string, string>();
  if (!s.includes('=')) {
    m.set('type', 'local');
    m.set('dest', s);
    return m;
  }
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid output option ${JSON.stringify(part)}: expected key=value`);
    m.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1));
  }
  return m;
}
