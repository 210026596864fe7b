/**
 * The OCI image-spec conformance corpus (testdata/conformance/oci-image-spec-schema,
 * see its PROVENANCE.md): every example document through lib/oci's validator
 * and through the independent ajv validator of spec/helpers/oci-schema.ts;
 * both must agree with upstream's verdict.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Digest, sha256 } from '../../lib/digest/index.ts';
import {
  chainId,
  chainIds,
  MediaType,
  OciError,
  parseDescriptor,
  parseImageConfig,
  parseIndex,
  parseLayoutHeader,
  parseManifest,
  validateOciDocument,
} from '../../lib/oci/index.ts';
import { schemaErrors, schemaMap } from '../helpers/oci-schema.ts';

const ROOT = new URL('../../testdata/conformance/oci-image-spec-schema/', import.meta.url);

interface Entry {
  file: string;
  mediaType: string;
  expect: 'valid' | 'invalid';
  comment?: string;
  title?: string;
  extraCheck?: string;
  sha256OfFileBytes?: string;
  convertDockerMediaTypesBeforeValidating?: boolean;
}

const examples = JSON.parse(readFileSync(new URL('examples/index.json', ROOT), 'utf8')) as { tests: Entry[]; docs: Entry[] };

function rawBytes(e: Entry): Buffer {
  return readFileSync(new URL(e.file, ROOT));
}

/** The bytes upstream validates: compat documents get the Docker→OCI replacement first. */
function documentBytes(e: Entry): Buffer {
  const raw = rawBytes(e);
  if (e.convertDockerMediaTypesBeforeValidating !== true) return raw;
  let text = raw.toString('utf8');
  for (const [docker, oci] of Object.entries(schemaMap.dockerToOciMediaTypes.map)) text = text.replaceAll(docker, oci);
  return Buffer.from(text, 'utf8');
}

/** lib/oci's typed parser for a media type. */
function parserFor(mediaType: string): (bytes: Uint8Array) => unknown {
  switch (mediaType) {
    case MediaType.OciDescriptor: return (b) => parseDescriptor(JSON.parse(Buffer.from(b).toString('utf8')));
    case MediaType.OciManifest: return parseManifest;
    case MediaType.OciIndex: return parseIndex;
    case MediaType.OciConfig: return parseImageConfig;
    case MediaType.OciLayoutHeader: return parseLayoutHeader;
    default: throw new Error(`no parser for ${mediaType}`);
  }
}

const KIND_CODES: Record<string, string> = {
  [MediaType.OciDescriptor]: 'DESCRIPTOR_INVALID',
  [MediaType.OciManifest]: 'MANIFEST_INVALID',
  [MediaType.OciIndex]: 'INDEX_INVALID',
  [MediaType.OciConfig]: 'CONFIG_INVALID',
  [MediaType.OciLayoutHeader]: 'LAYOUT_INVALID',
};

function isJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(Buffer.from(bytes).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Runs one document through both validators; returns the verdict both gave. */
function checkDocument(e: Entry): 'valid' | 'invalid' {
  const bytes = documentBytes(e);
  const lib = validateOciDocument(e.mediaType, bytes);
  const ajv = schemaErrors(e.mediaType, bytes);
  const why = `${e.file} (${e.comment ?? e.title ?? ''})`;
  if (e.expect === 'valid') {
    assert.deepEqual(lib, { ok: true }, `lib/oci rejects valid ${why}`);
    assert.deepEqual(ajv, [], `ajv rejects valid ${why}`);
  } else {
    assert.equal(lib.ok, false, `lib/oci accepts invalid ${why}`);
    assert.ok(!lib.ok && lib.errors.length > 0, `lib/oci gives no reason for ${why}`);
    assert.notDeepEqual(ajv, [], `ajv accepts invalid ${why}`);
  }
  return e.expect;
}

describe('OCI image-spec conformance: test documents', () => {
  for (const e of examples.tests) {
    it(`${e.file.replace(/^.*\//, '')}: ${e.comment || 'compat document'}`, () => {
      checkDocument(e);
    });
  }
});

describe('OCI image-spec conformance: spec examples', () => {
  for (const e of examples.docs) {
    it(`${e.file.replace(/^.*\//, '')}: ${e.title ?? ''}`, () => {
      assert.equal(e.expect, 'valid');
      checkDocument(e);
    });
  }
});

describe('OCI image-spec conformance: totals and traps', () => {
  it('gives 31 valid accepted, 40 invalid rejected, 13 spec examples valid', (t) => {
    const tally = (entries: Entry[]) => entries.map(checkDocument).reduce(
      (n, verdict) => ({ ...n, [verdict]: n[verdict] + 1 }),
      { valid: 0, invalid: 0 },
    );
    const tests = tally(examples.tests);
    const docs = tally(examples.docs);
    t.diagnostic(`tests: ${tests.valid} valid accepted, ${tests.invalid} invalid rejected; docs: ${docs.valid} valid`);
    assert.deepEqual(tests, { valid: 31, invalid: 40 });
    assert.deepEqual(docs, { valid: 13, invalid: 0 });
  });

  it('the typed parsers agree: valid documents parse, invalid ones throw OciError with the kind code', () => {
    for (const e of [...examples.tests, ...examples.docs]) {
      const bytes = documentBytes(e);
      const parse = parserFor(e.mediaType);
      if (e.expect === 'valid') {
        assert.equal(typeof parse(bytes), 'object', e.file);
        continue;
      }
      const code = isJson(bytes) ? KIND_CODES[e.mediaType] : e.mediaType === MediaType.OciDescriptor ? undefined : 'JSON_INVALID';
      if (code === undefined) continue; // parseDescriptor takes parsed values; the test's JSON.parse throws first
      assert.throws(() => parse(bytes), (err: unknown) => err instanceof OciError && err.code === code, e.file);
    }
  });

  it('the 3 documents that are not JSON are rejected as such', () => {
    const notJson = examples.tests.filter((e) => !isJson(rawBytes(e))).map((e) => e.file.replace(/^.*\//, ''));
    assert.deepEqual(notJson, ['manifest-01-invalid.json', 'config-06-invalid.json', 'image-layout-00-invalid.json']);
    for (const e of examples.tests.filter((x) => !isJson(rawBytes(x)))) {
      const result = validateOciDocument(e.mediaType, rawBytes(e));
      assert.ok(!result.ok && /not valid JSON/.test(result.errors[0] ?? ''), e.file);
    }
  });

  it('the 4 extraCheck documents pass the schemas alone, except descriptor-17 (format: uri)', () => {
    const extra = examples.tests.filter((e) => e.extraCheck !== undefined);
    assert.equal(extra.length, 4);
    for (const e of extra) {
      const schemaOnly = schemaErrors(e.mediaType, documentBytes(e), { extraChecks: false });
      if (e.file.includes('descriptor-17')) assert.deepEqual(schemaOnly, ['/urls/0: must match format "uri"']);
      else assert.deepEqual(schemaOnly, [], e.file);
      const lib = validateOciDocument(e.mediaType, documentBytes(e));
      assert.equal(lib.ok, false, e.file);
    }
  });

  it('lib/oci names the field each extraCheck document breaks', () => {
    const expected: Record<string, string> = {
      'descriptor-15': '/digest: ',
      'descriptor-17': '/urls/0: ',
      'descriptor-29': '/data: ',
      'config-09': '/config/Env/0: ',
    };
    for (const e of examples.tests.filter((x) => x.extraCheck !== undefined)) {
      const key = Object.keys(expected).find((k) => e.file.includes(k)) ?? e.file;
      const lib = validateOciDocument(e.mediaType, documentBytes(e));
      assert.ok(!lib.ok && lib.errors.length === 1 && lib.errors[0]?.startsWith(expected[key] ?? '?'), `${e.file}: ${JSON.stringify(lib)}`);
    }
  });
});

describe('OCI image-spec conformance: compat documents', () => {
  const compat = examples.tests.filter((e) => e.sha256OfFileBytes !== undefined);
  const dockerType = (oci: string) =>
    Object.entries(schemaMap.dockerToOciMediaTypes.map).find(([, o]) => o === oci)?.[0] ?? oci;

  it('there are 4, each with the sha256 upstream wrote, recomputed with lib/digest', () => {
    assert.equal(compat.length, 4);
    for (const e of compat) assert.equal(sha256(rawBytes(e)), e.sha256OfFileBytes, e.file);
  });

  it('validate unconverted, under their Docker schema2 media types', () => {
    for (const e of compat) {
      const raw = rawBytes(e);
      assert.notEqual(dockerType(e.mediaType), e.mediaType);
      assert.deepEqual(validateOciDocument(dockerType(e.mediaType), raw), { ok: true }, e.file);
      assert.deepEqual(schemaErrors(dockerType(e.mediaType), raw), [], e.file);
    }
  });
});

describe('ChainID vectors (identity/chainid_test.go)', () => {
  interface ChainCase { name: string; diffIDs: string[]; expected: string[] }
  const { cases } = JSON.parse(readFileSync(new URL('identity-chainid.json', ROOT), 'utf8')) as { cases: ChainCase[] };

  it('has the 4 cases', () => {
    assert.deepEqual(cases.map((c) => c.name), ['empty', 'identity', 'two', 'three']);
  });

  for (const c of cases) {
    it(`${c.name}: chain IDs of every prefix`, () => {
      // Upstream's fake digests (`sha256:a`) are not valid digests; chainIds hashes them as given.
      const diffIds = c.diffIDs as Digest[];
      assert.deepEqual(chainIds(diffIds), c.expected);
      if (c.expected.length === 0) {
        assert.throws(() => chainId(diffIds), (err: unknown) => err instanceof OciError && err.code === 'CHAIN_ID_EMPTY');
      } else {
        assert.equal(chainId(diffIds), c.expected.at(-1));
      }
    });
  }
});
