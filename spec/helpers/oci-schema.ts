/**
 * Test kit: an OCI document validator independent of lib/oci. It runs the
 * real image-spec JSON Schemas (testdata/conformance/oci-image-spec-schema)
 * through ajv with format assertion on, as upstream's validator does, plus
 * upstream's checks made in Go code: exact digest encodings, base64 `data`,
 * and `Env` entries. Nothing here imports lib/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';

const CORPUS = fileURLToPath(new URL('../../testdata/conformance/oci-image-spec-schema/', import.meta.url));

interface SchemaMap {
  mediaTypeToSchema: Record<string, string>;
  schemaAliases: Record<string, string[]>;
  dockerToOciMediaTypes: { map: Record<string, string> };
}

/** The corpus's media-type table, aliases and Docker→OCI replacement map. */
export const schemaMap: SchemaMap = JSON.parse(readFileSync(`${CORPUS}schema-map.json`, 'utf8'));

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function buildValidators(): Map<string, ValidateFunction> {
  // Both packages are CommonJS: the ESM default import is module.exports,
  // which also carries the real export as `.default`.
  const ajv = new ajvDraft04.default({ allErrors: true, validateFormats: true });
  ajvFormats.default(ajv);
  // defs.json's `media: {binaryEncoding}` is a draft-04 hyper-schema annotation.
  ajv.addKeyword({ keyword: 'media' });
  for (const [file, aliases] of Object.entries(schemaMap.schemaAliases)) {
    const schema = withoutIdsBesideRef(readJson(`${CORPUS}schema/${file}`));
    // Register the same object under every name, as upstream's schema.go does.
    // A name that is also an `id` inside the file is already registered by ajv.
    ajv.addSchema(schema, file);
    const ids = idsIn(schema);
    for (const alias of aliases) if (!ids.has(alias)) ajv.addSchema(schema, alias);
  }
  const validators = new Map<string, ValidateFunction>();
  for (const [mediaType, schemaPath] of Object.entries(schemaMap.mediaTypeToSchema)) {
    const validate = ajv.getSchema(schemaPath.replace(/^schema\//, ''));
    assert.ok(validate, `schema ${schemaPath} did not compile`);
    validators.set(mediaType, validate);
  }
  return validators;
}

/**
 * Draft-04: "all other properties in a $ref object MUST be ignored", `id`
 * included, so such an `id` must not change the base for resolving that
 * `$ref`. ajv applies it anyway, which would send `defs-descriptor.json`
 * references to URLs upstream never registers; dropping those ids gives the
 * draft-04 meaning.
 */
function withoutIdsBesideRef<T>(node: T): T {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) return node.map(withoutIdsBesideRef) as T;
  const entries = Object.entries(node).filter(([key]) => !(key === 'id' && '$ref' in node));
  return Object.fromEntries(entries.map(([k, v]) => [k, withoutIdsBesideRef(v)])) as T;
}

/** Every draft-04 `id` string in a schema document. */
function idsIn(node: unknown, ids = new Set<string>()): Set<string> {
  if (typeof node !== 'object' || node === null) return ids;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'id' && typeof value === 'string') ids.add(value);
    else idsIn(value, ids);
  }
  return ids;
}

let validators: Map<string, ValidateFunction> | undefined;

/** The OCI media type whose schema validates `mediaType` (Docker types mapped per schema-map.json). */
export function ociMediaType(mediaType: string): string {
  return schemaMap.dockerToOciMediaTypes.map[mediaType] ?? mediaType;
}

export interface SchemaCheckOptions {
  /** Also run upstream's checks made in code (default true); false means the schemas alone. */
  extraChecks?: boolean;
}

/**
 * Problems found in `bytes` as a document of `mediaType`: JSON syntax, the
 * JSON Schema with formats asserted, then the extra checks. Empty means valid.
 * Throws for a media type with no schema.
 */
export function schemaErrors(mediaType: string, bytes: Uint8Array | string, options: SchemaCheckOptions = {}): string[] {
  validators ??= buildValidators();
  const oci = ociMediaType(mediaType);
  const validate = validators.get(oci);
  if (validate === undefined) throw new Error(`no OCI schema for media type ${mediaType}`);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return [`invalid JSON: ${(err as Error).message}`];
  }
  const errors = validate(doc)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? e.keyword}`);
  if (options.extraChecks !== false) errors.push(...extraCheckErrors(oci, doc));
  return errors;
}

/** Fails the test with every problem unless `bytes` is a valid `mediaType` document. */
export function assertSchemaValid(mediaType: string, bytes: Uint8Array | string): void {
  const errors = schemaErrors(mediaType, bytes);
  assert.deepEqual(errors, [], `not a valid ${mediaType} document:\n  ${errors.join('\n  ')}`);
}

// ---- upstream's checks made in Go code -----------------------------------

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Descriptors of a document with their JSON Pointers. */
function descriptorsOf(mediaType: string, doc: Json): Array<[string, Json]> {
  const found: Array<[string, unknown]> = [];
  if (mediaType === 'application/vnd.oci.descriptor.v1+json') found.push(['', doc]);
  if (mediaType === 'application/vnd.oci.image.manifest.v1+json') {
    found.push(['/config', doc['config']], ...asArray(doc['layers']).map((d, i): [string, unknown] => [`/layers/${i}`, d]));
  }
  if (mediaType === 'application/vnd.oci.image.index.v1+json') {
    found.push(...asArray(doc['manifests']).map((d, i): [string, unknown] => [`/manifests/${i}`, d]));
  }
  if (doc['subject'] !== undefined) found.push(['/subject', doc['subject']]);
  return found.flatMap(([path, d]) => {
    const o = asObject(d);
    return o === undefined ? [] : [[path, o] as [string, Json]];
  });
}

// go-digest's registered algorithms and their exact encodings.
const EXACT_DIGEST: Record<string, RegExp> = { sha256: /^[0-9a-f]{64}$/, sha384: /^[0-9a-f]{96}$/, sha512: /^[0-9a-f]{128}$/ };

function extraCheckErrors(mediaType: string, doc: unknown): string[] {
  const root = asObject(doc);
  if (root === undefined) return [];
  const errors: string[] = [];
  for (const [path, d] of descriptorsOf(mediaType, root)) {
    const digest = d['digest'];
    if (typeof digest === 'string' && digest.includes(':')) {
      const [algorithm = '', encoded = ''] = [digest.slice(0, digest.indexOf(':')), digest.slice(digest.indexOf(':') + 1)];
      const exact = EXACT_DIGEST[algorithm];
      if (exact !== undefined && !exact.test(encoded)) errors.push(`${path}/digest: wrong encoding for ${algorithm}`);
    }
    const data = d['data'];
    if (typeof data === 'string' && !isPaddedBase64(data)) errors.push(`${path}/data: not padded standard base64`);
  }
  if (mediaType === 'application/vnd.oci.image.config.v1+json') {
    asArray(asObject(root['config'])?.['Env']).forEach((e, i) => {
      if (typeof e === 'string' && !/^[^=]+=[^\n]*$/.test(e)) errors.push(`/config/Env/${i}: not NAME=value`);
    });
  }
  return errors;
}

/** Standard alphabet, length a multiple of 4, at most two `=` and only at the end (Go's StdEncoding). */
function isPaddedBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}
