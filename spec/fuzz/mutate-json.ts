/**
 * JSON-aware mutations for fuzz-manifest.ts: members dropped or retyped,
 * numbers past what a double holds exactly, wrong digests and media types,
 * unicode and lone surrogates, deep nesting, duplicate keys, `__proto__`,
 * huge arrays; plus byte-level damage of the serialized text. Values may
 * hold {@link RawJson} (text written as it is) and {@link DupObject} (an
 * object with repeated keys), which only {@link serialize} can write.
 */
import { type Random, chance, int, pick } from './fuzz-kit.ts';

/** JSON text written verbatim (numbers like `1e400`, `-0`, deep nesting). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object whose members may repeat a key (JSON.parse keeps the last one, Go's decoder too, others the first). */
export class DupObject {
  constructor(readonly members: readonly [string, unknown][]) {}
}

export interface Style {
  indent: string;
  newline: string;
}

/** JSON text of `v` in `style`; RawJson and DupObject as they say. */
export function serialize(v: unknown, style: Style = { indent: '', newline: '' }, depth = 0): string {
  if (v instanceof RawJson) return v.text;
  const nl = (d: number): string => (style.indent === '' ? '' : style.newline + style.indent.repeat(d));
  const sep = style.indent === '' ? ':' : ': ';
  const members = (entries: readonly [string, unknown][]): string =>
    entries.length === 0 ? '{}' : `{${entries.map(([k, x]) => `${nl(depth + 1)}${JSON.stringify(k)}${sep}${serialize(x, style, depth + 1)}`).join(',')}${nl(depth)}}`;
  if (v instanceof DupObject) return members(v.members);
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map((x) => `${nl(depth + 1)}${serialize(x, style, depth + 1)}`).join(',')}${nl(depth)}]`;
  if (v !== null && typeof v === 'object') return members(Object.entries(v));
  return JSON.stringify(v) ?? 'null';
}

const HEX = '0123456789abcdef';
const hex = (random: Random, n: number): string => Array.from({ length: n }, () => HEX[int(random, 16)]).join('');

const MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.container.image.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.empty.v1+json', 'application/vnd.in-toto+json',
  'application/octet-stream', 'application/json', 'text/plain', '', 'x', 'a/b/c', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
  'APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
];

/** Values that are wrong in some interesting way, for any place in a document. */
function oddValue(random: Random): unknown {
  const choices: (() => unknown)[] = [
    () => null, () => true, () => false, () => 0, () => -1, () => 1.5, () => '', () => [], () => ({}), () => 'x',
    () => new RawJson('1e400'), () => new RawJson('-0'), () => new RawJson('9007199254740993'), () => new RawJson('1E2'), () => new RawJson('-1e-400'),
    () => Number.MAX_SAFE_INTEGER, () => 2 ** 53, () => 1e21, () => -(2 ** 31), () => 2 ** 32 + 1,
    () => `sha256:${hex(random, 64)}`, () => `sha256:${hex(random, 63)}`, () => `sha256:${hex(random, 64).toUpperCase()}`, () => `sha512:${hex(random, 128)}`,
    () => `sha384:${hex(random, 96)}`, () => 'md5:d41d8cd98f00b204e9800998ecf8427e', () => `sha256+b64u:${hex(random, 43)}`, () => `sha256:${'g'.repeat(64)}`, () => 'sha256:',
    () => pick(random, MEDIA_TYPES),
    () => '\u0000', () => new RawJson('"\\ud800"'), () => new RawJson('"\\udfff\\ud800"'), () => '\u202e\u0301', () => '😀'.repeat(1 + int(random, 100)),
    () => 'é'.repeat(1 + int(random, 5000)), () => 'a'.repeat(pick(random, [255, 256, 4096, 65_536, 1 << 20])),
    () => nested(random), () => new DupObject([['__proto__', { polluted: true }]]), () => new RawJson('{"__proto__":{"polluted":1},"constructor":{"prototype":{}}}'),
    () => new DupObject([['a', 1], ['a', 2]]), () => [null, 1, 'a', {}, []], () => Array.from({ length: pick(random, [100, 10_000]) }, () => 'x'),
    () => 'linux', () => 'amd64', () => 'arm64', () => 'v8', () => 'v8.99999', () => 'v99999999', () => 'windows', () => '10.0.17763.1',
    () => 'PATH=/usr/bin', () => '=x', () => 'a=b\nc', () => '2024-02-30T00:00:00Z', () => '2024-01-01T00:00:60Z', () => '1970-01-01T00:00:00+24:00',
    () => 'e30=', () => 'not base64', () => 'https://example.com/x', () => 'file:///etc/passwd', () => 'javascript:alert(1)',
  ];
  return pick(random, choices)();
}

/** Arrays or objects nested `n` deep, as text (building the value would itself overflow the stack). */
function nested(random: Random): RawJson {
  const n = pick(random, [10, 100, 1000, 10_000, 100_000]);
  return chance(random, 0.5) ? new RawJson(`${'['.repeat(n)}${']'.repeat(n)}`) : new RawJson(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
}

type Path = (string | number)[];

/** Every place in `v` (plain objects and arrays followed; RawJson and DupObject are leaves). */
function places(v: unknown, limit = 4000): Path[] {
  const out: Path[] = [[]];
  const visit = (x: unknown, path: Path): void => {
    if (out.length >= limit) return;
    if (Array.isArray(x)) x.forEach((y, i) => { out.push([...path, i]); visit(y, [...path, i]); });
    else if (x !== null && typeof x === 'object' && !(x instanceof RawJson) && !(x instanceof DupObject)) {
      for (const [k, y] of Object.entries(x)) {
        out.push([...path, k]);
        visit(y, [...path, k]);
      }
    }
  };
  visit(v, []);
  return out;
}

function get(v: unknown, path: Path): unknown {
  let x = v;
  for (const k of path) x = (x as Record<string | number, unknown>)[k];
  return x;
}

/** `v` with the value at `path` replaced by `f(old)` (undefined deletes it); the root may be replaced. */
function update(v: unknown, path: Path, f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(v);
  const parent = get(v, path.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const key = path[path.length - 1]!;
  const next = f((parent as Record<string | number, unknown>)[key]);
  if (Array.isArray(parent) && typeof key === 'number') {
    if (next === undefined) parent.splice(key, 1);
    else parent[key] = next;
  } else if (next === undefined) delete (parent as Record<string, unknown>)[key];
  else Object.defineProperty(parent, key, { value: next, enumerable: true, writable: true, configurable: true });
  return v;
}

/** One JSON-aware mutation of a parsed document (changed in place where it can be; use the result). */
export function mutateValue(v: unknown, random: Random): unknown {
  const all = places(v);
  const path = pick(random, all);
  switch (int(random, 12)) {
    case 10:
    case 11: // an unknown member anywhere: valid by the schemas, so it travels as far as the document does
      return update(v, path, (old) => {
        if (old === null || typeof old !== 'object' || Array.isArray(old) || old instanceof RawJson || old instanceof DupObject) return old;
        return new DupObject([...Object.entries(old), [pick(random, ['x-unknown', 'com.example.extra', '__proto__', 'constructor']), chance(random, 0.5) ? nested(random) : oddValue(random)]]);
      });
    case 0: // drop a member
      return path.length === 0 ? v : update(v, path, () => undefined);
    case 1:
    case 2: // retype or replace
      return update(v, path, () => oddValue(random));
    case 3: // an extra member, maybe one that shadows Object.prototype
      return update(v, path, (old) => {
        if (old === null || typeof old !== 'object' || Array.isArray(old) || old instanceof RawJson || old instanceof DupObject) return old;
        const key = pick(random, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x-unknown', '', 'mediaType', 'schemaVersion', 'digest', 'size', 'platform', 'annotations']);
        return new DupObject([...Object.entries(old), [key, oddValue(random)]]);
      });
    case 4: // a repeated key with another value
      return update(v, path, (old) => {
        if (old === null || typeof old !== 'object' || Array.isArray(old) || old instanceof RawJson || old instanceof DupObject) return old;
        const entries = Object.entries(old);
        if (entries.length === 0) return old;
        const [k] = pick(random, entries);
        const dup: [string, unknown] = [k, oddValue(random)];
        return new DupObject(chance(random, 0.5) ? [...entries, dup] : [dup, ...entries]);
      });
    case 5: // an array grown, emptied or shuffled
      return update(v, path, (old) => {
        if (!Array.isArray(old)) return old;
        switch (int(random, 4)) {
          case 0: return [];
          case 1: return old.length === 0 ? old : Array.from({ length: pick(random, [2, 50, 5000]) }, () => structuredClone(pick(random, old)));
          case 2: return [...old].reverse();
          default: return [...old, oddValue(random)];
        }
      });
    case 6: // a number nudged
      return update(v, path, (old) => (typeof old === 'number' ? pick(random, [old + 1, old - 1, -old, old * 1024, old + 0.5, new RawJson(`${old}.0`), new RawJson(`${old}e0`)]) : old));
    case 7: // a string damaged
      return update(v, path, (old) => {
        if (typeof old !== 'string') return old;
        const at = int(random, old.length + 1);
        return pick(random, [old.toUpperCase(), `${old} `, ` ${old}`, old.slice(0, at), `${old.slice(0, at)}\u0000${old.slice(at)}`, old + old, `${old}/../..`, old.replace(/[0-9a-f]$/, 'x')]);
      });
    case 8: // deep nesting in place
      return update(v, path, () => nested(random));
    default: // a member moved to the top level or swapped with another place
      return update(v, pick(random, all), () => structuredClone(get(v, path) instanceof RawJson || get(v, path) instanceof DupObject ? null : get(v, path)));
  }
}

/** Byte-level damage of serialized JSON. */
export function mutateBytes(b: Buffer, random: Random): Buffer {
  const at = int(random, b.length + 1);
  switch (int(random, 12)) {
    case 0: {
      const c = Buffer.from(b);
      if (c.length > 0) c[int(random, c.length)] = int(random, 256);
      return c;
    }
    case 1:
      return Buffer.concat([b.subarray(0, at), Buffer.from([int(random, 256)]), b.subarray(at)]);
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(random, 16))]);
    case 3:
      return b.subarray(0, at);
    case 4:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
    case 5:
      return Buffer.from(b.toString('utf8'), 'utf16le');
    case 6:
      return Buffer.concat([b.subarray(0, at), Buffer.from(pick(random, [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]])), b.subarray(at)]);
    case 7:
      return Buffer.concat([b, b]);
    case 8:
      return Buffer.concat([b, Buffer.from(pick(random, [' ', '\n', '\0', 'x', '}', ',{}', '\u2028']))]);
    case 9:
      return Buffer.from(pick(random, ['', ' ', 'null', '[]', '{}', '"x"', '1', 'true', '{"schemaVersion":1}', '{"schemaVersion":2}']));
    case 10:
      return Buffer.from(b.toString('latin1').replace(/"/g, pick(random, ["'", '`', '\\"'])), 'latin1');
    default:
      return Buffer.from(b.toString('utf8').replace(/[{}[\]]/, pick(random, ['', '{{', ']]', '('])));
  }
}
