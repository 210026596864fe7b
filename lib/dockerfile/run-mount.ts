/**
 * `RUN --mount=<csv>` specs → a typed union, with BuildKit's rules
 * (instructions/commands_runmount.go parseMount, and the defaults its
 * dispatcher fills in: convert_runmount.go, convert_secrets.go,
 * convert_ssh.go). Fields are read in order, so `required`/`size` written
 * before `type=` are judged against the default type `bind`, as in BuildKit.
 */
import { goQuote } from './ast.ts';
import { DockerfileError, InstructionError } from './errors.ts';
import type { SourceLocation } from '../errors.ts';
import { goPathBase, goPathClean, parseCsvRecord } from './run-mount-text.ts';
import { withSuggestion } from './to-instructions-flags.ts';

export type MountSharing = 'shared' | 'private' | 'locked';

/** Ownership of the mount's file/socket/cache root. */
interface MountOwnership {
  /** Octal `mode=`; see each type for the default. */
  mode?: number;
  uid?: number;
  gid?: number;
}

/** `type=bind` (the default): a read-only view of the context or of `from`. */
export interface BindMount {
  type: 'bind';
  /** As written; '' when absent (the executor resolves it against WORKDIR; `/` is an error). */
  target: string;
  /** Path in the context or in `from`; '' = its root. */
  source: string;
  /** Stage name, stage index or image; undefined = the build context. */
  from?: string;
  /** Default true; `rw` makes it writable, writes are discarded. */
  readonly: boolean;
}

/** `type=cache`: a persistent directory shared between builds. */
export interface CacheMount extends MountOwnership {
  type: 'cache';
  target: string;
  source: string;
  from?: string;
  /** Default false. */
  readonly: boolean;
  /** `id=`, default: `target` cleaned (BuildKit's path.Clean, before WORKDIR resolution). */
  id: string;
  /** Default `shared`. */
  sharing: MountSharing;
  /** mode/uid/gid (defaults 0755, 0, 0) apply to a fresh cache root only when one of them is written and `source` is empty. */
}

/** `type=tmpfs`: an empty in-memory filesystem. */
export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Default false. */
  readonly: boolean;
  /** `size=` in bytes (go-units RAMInBytes: binary suffixes); 0 = no limit. */
  size: number;
}

/** `type=secret`: a secret as a file and/or an environment variable. */
export interface SecretMount {
  type: 'secret';
  /** `source=`, else `id=`, else the base name of `target`. */
  id: string;
  /**
   * File path: `target=`, or `/run/secrets/<base of id>` when `env` is not
   * set; undefined when only `env` was asked for.
   */
  target?: string;
  /** `env=NAME`: expose the secret as this variable. */
  env?: string;
  /** Default false: a missing secret is skipped. */
  required: boolean;
  /** File mode, default 0400. */
  mode: number;
  /** Default 0. */
  uid: number;
  /** Default 0. */
  gid: number;
}

/** `type=ssh`: an SSH agent socket. */
export interface SshMount {
  type: 'ssh';
  /** `id=`, default `default`. */
  id: string;
  /** Socket path; undefined = BuildKit's `/run/buildkit/ssh_agent.<n>` (n = index among ssh mounts). */
  target?: string;
  /** Default false. */
  required: boolean;
  /** Socket mode, default 0600. */
  mode: number;
  uid: number;
  gid: number;
}

export type RunMount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;
export type RunMountType = RunMount['type'];

/** One `--mount` flag as the parser keeps it. */
export interface RunMountSpec {
  /** The flag value as written (after the parser's quote removal), unexpanded. */
  raw: string;
  /** `from=` as written (variables are refused there); the planner's stage edge. */
  from?: string;
  /**
   * The typed mount, when `raw` needs no expansion (no `$`, quote or
   * backslash in any value); otherwise undefined: call
   * `parseRunMount(raw, expand)` once the build variables are known.
   */
  mount?: RunMount;
}

const MOUNT_TYPES: readonly RunMountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly MountSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** BuildKit's Mount struct while fields are being read. */
interface Fields {
  type: RunMountType;
  from: string;
  source: string;
  target: string;
  readonly: boolean;
  roAuto: boolean;
  size: number;
  id: string;
  sharing: MountSharing | '';
  required: boolean;
  env?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

function fail(message: string): never {
  throw new InstructionError('FLAG_INVALID', message);
}

/**
 * Parses one `--mount` value after variable expansion: `expand` is applied
 * to every `key=value` value (BuildKit expands values only, not keys or bare
 * words); identity by default. Throws DockerfileError FLAG_INVALID at
 * `location` with BuildKit's message, e.g. `unexpected key 'foo' in
 * 'foo=bar'`, `unsupported mount type "cahce" (did you mean cache?)`; errors
 * thrown by `expand` pass through.
 */
export function parseRunMount(spec: string, expand: (word: string) => string = (w) => w, location?: SourceLocation): RunMount {
  try {
    return readRunMount(spec, expand);
  } catch (err) {
    if (err instanceof InstructionError) throw new DockerfileError(err.code, err.message, location);
    throw err;
  }
}

/** parseRunMount for the converters: throws InstructionError, which they locate. */
export function readRunMount(spec: string, expand: (word: string) => string): RunMount {
  const m: Fields = { type: 'bind', from: '', source: '', target: '', readonly: false, roAuto: true, size: 0, id: '', sharing: '', required: false };
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) bareField(m, key, field);
    else setField(m, key, expand(field.slice(eq + 1)), field);
  }
  return finish(m);
}

/**
 * BuildKit's parse-time pass (no expander): only CSV syntax and the rule
 * that `from=` may not use variables; returns the last `from=` value.
 * Throws InstructionError (internal; toInstructions reports it located).
 */
export function checkRunMountSyntax(spec: string): { from?: string } {
  let from: string | undefined;
  for (const field of csvFields(spec)) {
    const eq = field.indexOf('=');
    if (eq === -1 || field.slice(0, eq).toLowerCase() !== 'from') continue;
    const value = field.slice(eq + 1);
    const dollar = value.indexOf('$');
    if (dollar !== -1 && dollar !== value.length - 1) fail("'from' doesn't support variable expansion, define alias stage instead");
    from = value;
  }
  return from === undefined || from === '' ? {} : { from };
}

function csvFields(spec: string): string[] {
  try {
    return parseCsvRecord(spec);
  } catch (err) {
    return fail(`failed to parse csv mounts: ${(err as Error).message}`);
  }
}

function bareField(m: Fields, key: string, field: string): void {
  switch (key) {
    case 'readonly': case 'ro':
      m.readonly = true;
      m.roAuto = false;
      return;
    case 'readwrite': case 'rw':
      m.readonly = false;
      m.roAuto = false;
      return;
    case 'required':
      if (m.type !== 'secret' && m.type !== 'ssh') fail(`unexpected key '${key}' for mount type '${m.type}'`);
      m.required = true;
      return;
    default:
      fail(`invalid field '${field}' must be a key=value pair`);
  }
}

function setField(m: Fields, key: string, value: string, field: string): void {
  switch (key) {
    case 'type': {
      const type = value.toLowerCase();
      if (!(MOUNT_TYPES as readonly string[]).includes(type)) {
        fail(withSuggestion(`unsupported mount type ${goQuote(value)}`, value, MOUNT_TYPES, true));
      }
      m.type = type as RunMountType;
      return;
    }
    case 'from': m.from = value; return;
    case 'source': case 'src': m.source = value; return;
    case 'target': case 'dst': case 'destination': m.target = value; return;
    case 'readonly': case 'ro':
      m.readonly = goBool(key, value);
      m.roAuto = false;
      return;
    case 'readwrite': case 'rw':
      m.readonly = !goBool(key, value);
      m.roAuto = false;
      return;
    case 'required':
      if (m.type !== 'secret' && m.type !== 'ssh') fail(`unexpected key '${key}' for mount type '${m.type}'`);
      m.required = goBool(key, value);
      return;
    case 'size':
      if (m.type !== 'tmpfs') fail(`unexpected key '${key}' for mount type '${m.type}'`);
      m.size = ramInBytes(value, key);
      return;
    case 'id': m.id = value; return;
    case 'sharing': {
      const sharing = value.toLowerCase();
      if (!(SHARING as readonly string[]).includes(sharing)) {
        fail(withSuggestion(`unsupported sharing value ${goQuote(value)}`, value, SHARING, true));
      }
      m.sharing = sharing as MountSharing;
      return;
    }
    case 'mode': m.mode = goUint(value, 8, 'mode'); return;
    case 'uid': m.uid = goUint(value, 10, 'uid'); return;
    case 'gid': m.gid = goUint(value, 10, 'gid'); return;
    case 'env': m.env = value; return;
    default:
      fail(withSuggestion(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS, true));
  }
}

/** The checks after all fields, then BuildKit's per-type defaults. */
function finish(m: Fields): RunMount {
  if (m.type === 'bind' || m.type === 'tmpfs') {
    for (const name of ['mode', 'uid', 'gid'] as const) {
      if (m[name] !== undefined) fail(`${name} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  const readonly = m.roAuto ? m.type !== 'cache' && m.type !== 'tmpfs' : m.readonly;
  if (m.type === 'secret') {
    if (m.from !== '') fail('secret mount should not have a from');
    if (m.sharing !== '') fail('secret mount should not define sharing');
    if (m.source === '' && m.target === '' && m.id === '') fail('invalid secret mount. one of source, target required');
    if (m.source !== '' && m.id !== '') fail("both source and id can't be set");
  }
  if (m.sharing !== '' && m.type !== 'cache') fail(`invalid cache sharing set for ${m.type} mount`);
  const from = m.from === '' ? {} : { from: m.from };
  const owner = { ...(m.mode === undefined ? {} : { mode: m.mode }), ...(m.uid === undefined ? {} : { uid: m.uid }), ...(m.gid === undefined ? {} : { gid: m.gid }) };
  switch (m.type) {
    case 'bind':
      return { type: 'bind', target: m.target, source: m.source, ...from, readonly };
    case 'cache':
      return {
        type: 'cache', target: m.target, source: m.source, ...from, readonly,
        id: m.id === '' ? goPathClean(m.target) : m.id, sharing: m.sharing === '' ? 'shared' : m.sharing, ...owner,
      };
    case 'tmpfs':
      return { type: 'tmpfs', target: m.target, readonly, size: m.size };
    case 'secret':
      return secretMount(m);
    case 'ssh':
      if (m.source !== '') fail('ssh does not support source');
      return {
        type: 'ssh', id: m.id === '' ? 'default' : m.id, ...(m.target === '' ? {} : { target: m.target }),
        required: m.required, mode: m.mode ?? 0o600, uid: m.uid ?? 0, gid: m.gid ?? 0,
      };
  }
}

function secretMount(m: Fields): SecretMount {
  const id = m.source !== '' ? m.source : m.id !== '' ? m.id : goPathBase(m.target);
  let target: string | undefined = m.target === '' ? undefined : m.target;
  if (m.env === undefined) target ??= `/run/secrets/${goPathBase(id)}`;
  return {
    type: 'secret', id, ...(target === undefined ? {} : { target }), ...(m.env === undefined ? {} : { env: m.env }),
    required: m.required, mode: m.mode ?? 0o400, uid: m.uid ?? 0, gid: m.gid ?? 0,
  };
}

const GO_BOOL: Record<string, boolean> = {
  1: true, t: true, T: true, TRUE: true, true: true, True: true,
  0: false, f: false, F: false, FALSE: false, false: false, False: false,
};

/** Go's strconv.ParseBool. */
function goBool(key: string, value: string): boolean {
  const v = Object.hasOwn(GO_BOOL, value) ? GO_BOOL[value] : undefined;
  if (v === undefined) fail(`invalid value for ${key}: ${value}`);
  return v;
}

/** Go's strconv.ParseUint(value, base, 32) for base 8 or 10. */
function goUint(value: string, base: 8 | 10, name: string): number {
  const digits = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  const n = digits.test(value) ? parseInt(value, base) : NaN;
  if (!(n <= 0xffffffff)) fail(`invalid value ${value} for ${name}`);
  return n;
}

const GO_FLOAT = /^[+-]?(?:[0-9]+(?:_?[0-9]+)*\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const BINARY: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** docker/go-units RAMInBytes: a number, optional space, optional k/m/g/t/p with optional `b`/`ib`. */
function ramInBytes(text: string, key: string): number {
  const bad = (): never => fail(`invalid value for ${key}: ${text}`);
  let sep = -1;
  for (let i = text.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(text[i] ?? '')) {
      sep = i;
      break;
    }
  }
  if (sep === -1) bad();
  const num = text[sep] === ' ' ? text.slice(0, sep) : text.slice(0, sep + 1);
  const suffix = text.slice(sep + 1).toLowerCase();
  if (!GO_FLOAT.test(num) || num.includes('_')) bad();
  let size = Number(num);
  if (!Number.isFinite(size) || size < 0) bad();
  if (suffix !== '' && suffix !== 'b') {
    const mul = suffix.length <= 3 ? BINARY[suffix[0] ?? ''] : undefined;
    if (mul === undefined || (suffix.length === 2 && suffix[1] !== 'b') || (suffix.length === 3 && suffix.slice(1) !== 'ib')) bad();
    size *= mul ?? 1;
  }
  return Math.trunc(size);
}

/**
 * Where a bind/cache/tmpfs mount goes, as BuildKit's dispatchRunMounts
 * computes it: an absolute `target` is used as written, a relative (or
 * empty) one is joined to the working directory and cleaned. Throws
 * DockerfileError FLAG_INVALID `invalid mount target "/"` when that is the
 * root (e.g. no target with WORKDIR /).
 */
export function resolveMountTarget(target: string, workdir: string, location?: SourceLocation): string {
  const resolved = goPathClean(target).startsWith('/') ? target : goPathClean(['/', workdir, target].filter((p) => p !== '').join('/'));
  if (resolved === '/') throw new DockerfileError('FLAG_INVALID', `invalid mount target ${goQuote(resolved)}`, location);
  return resolved;
}
