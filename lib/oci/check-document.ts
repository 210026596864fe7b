/**
 * Structural checks of OCI documents: what the image-spec JSON schemas
 * require, plus the checks upstream makes in Go code (exact digest encodings,
 * base64 `data`, `Env` entries, decodable date-times). The checks collect every
 * problem instead of stopping at the first, so one run can report them all.
 */
import { isDigest } from '../digest/index.ts';
import { MediaType } from './media-types.ts';
import { isDateTime, isEnvEntry, isMediaType, isStdBase64, isUri } from './json-rules.ts';

/** Collects `pointer: message` problems; the root is written `(root)`. */
export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): void {
    this.list.push(`${path === '' ? '(root)' : path}: ${message}`);
  }
}

/** JSON Pointer (RFC 6901) of `key` below `base`. */
export function pointer(base: string, key: string | number): string {
  return `${base}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

type Obj = Record<string, unknown>;
/** Checks a present value at `path`, adding problems to `p`. */
export type Check = (v: unknown, path: string, p: Problems) => void;
/** Returns a problem message for a bad string, undefined for a good one. */
type StringRule = (s: string) => string | undefined;

// ---- generic building blocks -------------------------------------------

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return `the number ${v}`;
  return `a ${typeof v}`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function expectObject(v: unknown, path: string, p: Problems): v is Obj {
  if (isObject(v)) return true;
  p.add(path, `must be an object, not ${describe(v)}`);
  return false;
}

/** Runs `check` on `o[key]` when present; a missing required member is a problem. */
function field(o: Obj, key: string, path: string, p: Problems, check: Check, required = false): void {
  // Own members only: a JSON object never inherits, and `constructor` is no field.
  const v = Object.hasOwn(o, key) ? o[key] : undefined;
  const at = pointer(path, key);
  if (v === undefined) {
    if (required) p.add(at, 'is required');
    return;
  }
  check(v, at, p);
}

const str = (rule?: StringRule): Check => (v, path, p) => {
  if (typeof v !== 'string') return p.add(path, `must be a string, not ${describe(v)}`);
  const problem = rule?.(v);
  if (problem !== undefined) p.add(path, problem);
};

const bool: Check = (v, path, p) => {
  if (typeof v !== 'boolean') p.add(path, `must be a boolean, not ${describe(v)}`);
};

const integer: Check = (v, path, p) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) p.add(path, `must be an integer, not ${describe(v)}`);
};

const nullable = (check: Check): Check => (v, path, p) => {
  if (v !== null) check(v, path, p);
};

const arrayOf = (item: Check, minItems = 0): Check => (v, path, p) => {
  if (!Array.isArray(v)) return p.add(path, `must be an array, not ${describe(v)}`);
  if (v.length < minItems) p.add(path, `must have at least ${minItems} item(s)`);
  v.forEach((x: unknown, i) => item(x, pointer(path, i), p));
};

const mapOf = (value: Check): Check => (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  for (const [k, x] of Object.entries(v)) value(x, pointer(path, k), p);
};

const anyObject: Check = (v, path, p) => {
  expectObject(v, path, p);
};

const stringArray = arrayOf(str());
const stringMap = mapOf(str());
const objectMap = mapOf(anyObject);

// ---- string rules -------------------------------------------------------

const mediaType: StringRule = (s) =>
  isMediaType(s) ? undefined : `${quote(s)} is not a media type (type/subtype with RFC 6838 characters)`;

const digest: StringRule = (s) =>
  isDigest(s) ? undefined : `${quote(s)} is not a digest (algorithm:encoded; sha256 needs 64 lower-case hex digits)`;

const oneOf = (values: readonly string[]): StringRule => (s) =>
  values.includes(s) ? undefined : `${quote(s)} is not ${values.map((x) => JSON.stringify(x)).join(' or ')}`;

/** A document's own `mediaType`: when present it MUST name the document's type. */
const documentType = (allowed: readonly string[]): StringRule => (s) => mediaType(s) ?? oneOf(allowed)(s);

const uri: StringRule = (s) => (isUri(s) ? undefined : `${quote(s)} is not an absolute URI`);
const base64: StringRule = (s) => (isStdBase64(s) ? undefined : 'must be standard base64 with padding');
const dateTime: StringRule = (s) => (isDateTime(s) ? undefined : `${quote(s)} is not an RFC 3339 date-time`);
const envEntry: StringRule = (s) => (isEnvEntry(s) ? undefined : `${quote(s)} is not NAME=value`);

const schemaVersion: Check = (v, path, p) => {
  if (v !== 2) p.add(path, `must be 2, not ${typeof v === 'object' ? describe(v) : JSON.stringify(v)}`);
};

const size: Check = (v, path, p) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) p.add(path, `must be an integer, not ${describe(v)}`);
  else if (v < 0) p.add(path, `must not be negative (${v})`);
  // JSON.parse rounds beyond 2^53, so a larger size would silently change.
  else if (!Number.isSafeInteger(v)) p.add(path, `${v} is beyond 2^53 - 1 and cannot be held exactly`);
};

// ---- documents ----------------------------------------------------------

function platformFields(o: Obj, path: string, p: Problems): void {
  field(o, 'architecture', path, p, str(), true);
  field(o, 'os', path, p, str(), true);
  field(o, 'os.version', path, p, str());
  field(o, 'os.features', path, p, stringArray);
  field(o, 'variant', path, p, str());
  field(o, 'features', path, p, stringArray);
}

/** image-index.md `platform`. */
export const checkPlatform: Check = (v, path, p) => {
  if (expectObject(v, path, p)) platformFields(v, path, p);
};

/** descriptor.md; `platform` is checked wherever it appears. */
export const checkDescriptor: Check = (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  field(v, 'mediaType', path, p, str(mediaType), true);
  field(v, 'digest', path, p, str(digest), true);
  field(v, 'size', path, p, size, true);
  field(v, 'urls', path, p, arrayOf(str(uri)));
  field(v, 'annotations', path, p, stringMap);
  field(v, 'data', path, p, str(base64));
  field(v, 'artifactType', path, p, str(mediaType));
  field(v, 'platform', path, p, checkPlatform);
};

export interface ManifestCheckOptions {
  /**
   * Accept `"layers": []`. The schema requires one layer (the prose only says
   * SHOULD); images built FROM scratch with no filesystem change have none.
   */
  allowEmptyLayers?: boolean;
}

/** manifest.md, or a Docker schema2 manifest. */
export function checkManifest(v: unknown, p: Problems, options: ManifestCheckOptions = {}): void {
  if (!expectObject(v, '', p)) return;
  field(v, 'schemaVersion', '', p, schemaVersion, true);
  field(v, 'mediaType', '', p, str(documentType([MediaType.OciManifest, MediaType.DockerManifest])));
  field(v, 'artifactType', '', p, str(mediaType));
  field(v, 'config', '', p, checkDescriptor, true);
  field(v, 'layers', '', p, arrayOf(checkDescriptor, options.allowEmptyLayers === true ? 0 : 1), true);
  field(v, 'subject', '', p, checkDescriptor);
  field(v, 'annotations', '', p, stringMap);
}

/** image-index.md, or a Docker manifest list. */
export function checkIndex(v: unknown, p: Problems): void {
  if (!expectObject(v, '', p)) return;
  field(v, 'schemaVersion', '', p, schemaVersion, true);
  field(v, 'mediaType', '', p, str(documentType([MediaType.OciIndex, MediaType.DockerManifestList])));
  field(v, 'artifactType', '', p, str(mediaType));
  field(v, 'manifests', '', p, arrayOf(checkDescriptor), true);
  field(v, 'subject', '', p, checkDescriptor);
  field(v, 'annotations', '', p, stringMap);
}

/** image-layout.md `oci-layout` file. */
export function checkLayoutHeader(v: unknown, p: Problems): void {
  if (!expectObject(v, '', p)) return;
  field(v, 'imageLayoutVersion', '', p, str(oneOf(['1.0.0'])), true);
}

const checkHealthcheck: Check = (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  field(v, 'Test', path, p, stringArray);
  for (const key of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries']) field(v, key, path, p, integer);
};

const checkRunConfig: Check = (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  field(v, 'User', path, p, str());
  field(v, 'ExposedPorts', path, p, objectMap);
  field(v, 'Env', path, p, arrayOf(str(envEntry)));
  field(v, 'Entrypoint', path, p, nullable(stringArray));
  field(v, 'Cmd', path, p, nullable(stringArray));
  field(v, 'Volumes', path, p, nullable(objectMap));
  field(v, 'WorkingDir', path, p, str());
  field(v, 'Labels', path, p, nullable(stringMap));
  field(v, 'StopSignal', path, p, str());
  field(v, 'ArgsEscaped', path, p, bool);
  // Docker extensions kiln reads and writes; not in the OCI schema.
  field(v, 'Healthcheck', path, p, checkHealthcheck);
  field(v, 'Shell', path, p, stringArray);
  field(v, 'OnBuild', path, p, nullable(stringArray));
};

const checkRootfs: Check = (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  field(v, 'type', path, p, str(oneOf(['layers'])), true);
  field(v, 'diff_ids', path, p, arrayOf(str(digest)), true);
};

const checkHistory: Check = (v, path, p) => {
  if (!expectObject(v, path, p)) return;
  field(v, 'created', path, p, str(dateTime));
  for (const key of ['author', 'created_by', 'comment']) field(v, key, path, p, str());
  field(v, 'empty_layer', path, p, bool);
};

/** config.md image config. */
export function checkConfig(v: unknown, p: Problems): void {
  if (!expectObject(v, '', p)) return;
  platformFields(v, '', p);
  field(v, 'created', '', p, str(dateTime));
  field(v, 'author', '', p, str());
  field(v, 'config', '', p, checkRunConfig);
  field(v, 'rootfs', '', p, checkRootfs, true);
  field(v, 'history', '', p, arrayOf(checkHistory));
}
