/**
 * Parsing untrusted OCI JSON into the typed values of ./types.ts. Every parse
 * checks what the image-spec schemas require plus upstream's extra checks
 * (see ./check-document.ts) and throws {@link OciError} listing every problem.
 * Unknown members are kept: digests are over the original bytes anyway, and a
 * value passed through unchanged must not lose data. A document nested more
 * than {@link MAX_JSON_DEPTH} levels deep, or with a number beyond a double
 * (`1e400`), is refused with JSON_INVALID: kiln could not copy or rewrite it.
 */
import { MediaType } from './media-types.ts';
import { OciError, type OciErrorCode } from './oci-error.ts';
import {
  checkConfig,
  checkDescriptor,
  checkIndex,
  checkLayoutHeader,
  checkManifest,
  type ManifestCheckOptions,
  Problems,
} from './check-document.ts';
import type { Descriptor, ImageConfig, Index, LayoutHeader, Manifest } from './types.ts';

export type { ManifestCheckOptions } from './check-document.ts';

/** Outcome of {@link validateOciDocument}; `errors` are `pointer: message` lines. */
export type OciValidationResult = { ok: true } | { ok: false; errors: string[] };

type DocumentKind = 'descriptor' | 'manifest' | 'index' | 'config' | 'layout';

const KINDS: Record<DocumentKind, { code: OciErrorCode; noun: string }> = {
  descriptor: { code: 'DESCRIPTOR_INVALID', noun: 'descriptor' },
  manifest: { code: 'MANIFEST_INVALID', noun: 'image manifest' },
  index: { code: 'INDEX_INVALID', noun: 'image index' },
  config: { code: 'CONFIG_INVALID', noun: 'image config' },
  layout: { code: 'LAYOUT_INVALID', noun: 'oci-layout file' },
};

// Docker schema2 documents have the same shape as their OCI counterparts.
const KIND_BY_MEDIA_TYPE: ReadonlyMap<string, DocumentKind> = new Map([
  [MediaType.OciDescriptor, 'descriptor'],
  [MediaType.OciManifest, 'manifest'],
  [MediaType.DockerManifest, 'manifest'],
  [MediaType.OciIndex, 'index'],
  [MediaType.DockerManifestList, 'index'],
  [MediaType.OciConfig, 'config'],
  [MediaType.DockerConfig, 'config'],
  [MediaType.OciLayoutHeader, 'layout'],
]);

// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: keep a BOM so
// JSON.parse rejects it, as Go's decoder does.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Turns `input` into a JSON value: bytes are strict UTF-8 JSON text, a string
 * is JSON text, anything else is taken as an already-parsed value.
 * Throws `JSON_INVALID`.
 */
function decodeJson(input: unknown, noun: string): unknown {
  if (!(input instanceof Uint8Array) && typeof input !== 'string') return input;
  try {
    return JSON.parse(typeof input === 'string' ? input : UTF8.decode(input));
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new OciError('JSON_INVALID', `${noun} is not valid JSON: ${reason}`, { cause });
  }
}

/**
 * The deepest nesting of arrays and objects a parsed document may have.
 * Unknown members are kept, and kiln copies, freezes and re-serializes
 * documents with recursive code (structuredClone, deepFreeze, canonical
 * JSON) that overflows the stack near 2,000 levels: without a bound, a
 * hostile manifest or config crashes those copies with a RangeError. Go's
 * encoding/json stops at 10,000; real documents nest less than 10 deep.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * Why kiln cannot hold `value` as a document, or undefined when it can:
 * nesting deeper than {@link MAX_JSON_DEPTH}, or a number JSON.parse turned
 * into Infinity (`1e400`), which canonical JSON cannot write back when the
 * document is rewritten (a base image's config is, for every stage built on
 * it). Iterative, so any depth is safe to measure.
 */
function unholdable(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'number' && !Number.isFinite(v)) return `holds a number no double can hold (${String(v)})`;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) return `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return undefined;
}

function problemsOf(kind: DocumentKind, value: unknown, options: ManifestCheckOptions): string[] {
  const p = new Problems();
  switch (kind) {
    case 'descriptor': checkDescriptor(value, '', p); break;
    case 'manifest': checkManifest(value, p, options); break;
    case 'index': checkIndex(value, p); break;
    case 'config': checkConfig(value, p); break;
    case 'layout': checkLayoutHeader(value, p); break;
  }
  return p.list;
}

function invalid(kind: DocumentKind, problems: string[]): OciError {
  const { code, noun } = KINDS[kind];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
  return new OciError(code, `invalid ${noun}: ${problems[0] ?? 'unknown problem'}${more}`, { problems });
}

function parse<T>(kind: DocumentKind, input: unknown, options: ManifestCheckOptions = {}): T {
  const value = decodeJson(input, KINDS[kind].noun);
  const why = unholdable(value);
  if (why !== undefined) throw new OciError('JSON_INVALID', `${KINDS[kind].noun} ${why}`);
  const problems = problemsOf(kind, value, options);
  if (problems.length > 0) throw invalid(kind, problems);
  return value as T;
}

/**
 * Checks an already-parsed descriptor; `path` (a JSON Pointer, default root)
 * prefixes the problem locations so callers can say where it was embedded.
 * Returns the same object. Throws `DESCRIPTOR_INVALID`.
 */
export function parseDescriptor(v: unknown, path = ''): Descriptor {
  const p = new Problems();
  checkDescriptor(v, path, p);
  if (p.list.length > 0) throw invalid('descriptor', p.list);
  return v as Descriptor;
}

/**
 * Parses an OCI image manifest or Docker schema2 manifest from bytes (UTF-8
 * JSON), JSON text, or a parsed value. A `mediaType` member, when present,
 * must be one of those two. Throws `JSON_INVALID` or `MANIFEST_INVALID`.
 */
export function parseManifest(input: unknown, options: ManifestCheckOptions = {}): Manifest {
  return parse<Manifest>('manifest', input, options);
}

/**
 * Parses an OCI image index or Docker manifest list (bytes, JSON text or a
 * parsed value). Throws `JSON_INVALID` or `INDEX_INVALID`.
 */
export function parseIndex(input: unknown): Index {
  return parse<Index>('index', input);
}

/**
 * Parses an image config (bytes, JSON text or a parsed value). `Volumes: null`
 * and `Labels: null`, which the schema allows and Docker writes, come back as
 * absent members in a copy; the input is never modified.
 * Throws `JSON_INVALID` or `CONFIG_INVALID`.
 */
export function parseImageConfig(input: unknown): ImageConfig {
  const config = parse<ImageConfig>('config', input);
  const run = config.config as Record<string, unknown> | undefined;
  if (run === undefined || (run['Volumes'] !== null && run['Labels'] !== null)) return config;
  const copy: Record<string, unknown> = { ...run };
  for (const key of ['Volumes', 'Labels']) if (copy[key] === null) delete copy[key];
  return { ...config, config: copy };
}

/** Parses an `oci-layout` file. Throws `JSON_INVALID` or `LAYOUT_INVALID`. */
export function parseLayoutHeader(input: unknown): LayoutHeader {
  return parse<LayoutHeader>('layout', input);
}

/**
 * Validates the bytes of a document of `mediaType` (descriptor, manifest,
 * index, config or layout header; Docker schema2 types map to their OCI
 * shapes) as the OCI conformance suite does: an empty `layers` is invalid.
 * Invalid JSON or a bad document is a result, not an exception; only a
 * media type with no validator throws `MEDIA_TYPE_UNSUPPORTED`.
 */
export function validateOciDocument(mediaType: string, bytes: Uint8Array): OciValidationResult {
  const kind = KIND_BY_MEDIA_TYPE.get(mediaType);
  if (kind === undefined) {
    throw new OciError('MEDIA_TYPE_UNSUPPORTED', `no validator for media type ${JSON.stringify(mediaType)}`);
  }
  let value: unknown;
  try {
    value = decodeJson(bytes, KINDS[kind].noun);
  } catch (err) {
    return { ok: false, errors: [`(root): ${err instanceof Error ? err.message : String(err)}`] };
  }
  const errors = problemsOf(kind, value, {});
  return errors.length === 0 ? { ok: true } : { ok: false, errors };
}
