import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  isDateTime,
  isEnvEntry,
  isMediaType,
  isStdBase64,
  isUri,
  MAX_JSON_DEPTH,
  MediaType,
  OciError,
  parseDescriptor,
  parseImageConfig,
  parseIndex,
  parseLayoutHeader,
  parseManifest,
  validateOciDocument,
} from '../../lib/oci/index.ts';
import { KilnError } from '../../lib/errors.ts';
import { schemaErrors } from '../helpers/oci-schema.ts';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

function manifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: D1, size: 2 },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: D2, size: 32 }],
    ...extra,
  };
}

/** Asserts `fn` throws an OciError with `code` whose message contains `where`; returns it. */
function throwsOci(fn: () => unknown, code: string, where: string): OciError {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof OciError && caught instanceof KilnError, `not an OciError: ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.includes(where), `"${where}" not in: ${caught.message}`);
  return caught;
}

describe('parseManifest', () => {
  it('returns the typed manifest from bytes, JSON text or a parsed value, unknown members kept', () => {
    const doc = manifest({ 'x-extra': { kept: true } });
    for (const input of [Buffer.from(JSON.stringify(doc)), JSON.stringify(doc), doc]) {
      const m = parseManifest(input);
      assert.equal(m.schemaVersion, 2);
      assert.equal(m.config.digest, D1);
      assert.equal(m.layers[0]?.size, 32);
      assert.deepEqual((m as unknown as Record<string, unknown>)['x-extra'], { kept: true });
    }
  });

  it('accepts a Docker schema2 manifest and rejects a document typed as something else', () => {
    const docker = manifest({ mediaType: MediaType.DockerManifest });
    assert.equal(parseManifest(docker).mediaType, MediaType.DockerManifest);
    throwsOci(() => parseManifest(manifest({ mediaType: MediaType.OciIndex })), 'MANIFEST_INVALID', '/mediaType: ');
  });

  it('reports every problem with its JSON Pointer, the first in the message', () => {
    const bad = manifest({ layers: [{ mediaType: 'x', digest: D2, size: 1 }, { mediaType: MediaType.OciLayer, digest: D2.toUpperCase(), size: -1 }] });
    const err = throwsOci(() => parseManifest(bad), 'MANIFEST_INVALID', '/layers/0/mediaType');
    assert.ok(err.message.includes('and 2 more'), err.message);
    assert.deepEqual((err.fields['problems'] as string[]).map((s) => s.slice(0, s.indexOf(': '))), [
      '/layers/0/mediaType',
      '/layers/1/digest',
      '/layers/1/size',
    ]);
  });

  it('requires at least one layer unless allowEmptyLayers', () => {
    throwsOci(() => parseManifest(manifest({ layers: [] })), 'MANIFEST_INVALID', '/layers: must have at least 1');
    assert.deepEqual(parseManifest(manifest({ layers: [] }), { allowEmptyLayers: true }).layers, []);
  });

  it('rejects schemaVersion other than 2, and missing members', () => {
    throwsOci(() => parseManifest(manifest({ schemaVersion: 1 })), 'MANIFEST_INVALID', '/schemaVersion: must be 2');
    throwsOci(() => parseManifest({ schemaVersion: 2, layers: [] }), 'MANIFEST_INVALID', '/config: is required');
    throwsOci(() => parseManifest([]), 'MANIFEST_INVALID', '(root): must be an object');
  });

  it('throws JSON_INVALID for bad JSON, invalid UTF-8 and a byte-order mark', () => {
    throwsOci(() => parseManifest('{"schemaVersion": 2,'), 'JSON_INVALID', 'not valid JSON');
    throwsOci(() => parseManifest(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), 'JSON_INVALID', 'not valid JSON');
    throwsOci(() => parseManifest(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(manifest()))])), 'JSON_INVALID', 'not valid JSON');
  });
});

describe('nesting depth (found by spec/fuzz/fuzz-manifest.ts)', () => {
  // `{"x-extra": [[…]]}`: the document is level 1, the member's arrays levels 2 to n + 1.
  const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  const withMember = (doc: Record<string, unknown>, n: number): string => JSON.stringify({ ...doc, 'x-extra': 0 }).replace('"x-extra":0', `"x-extra":${nested(n)}`);
  const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [D1] } };
  const index = { schemaVersion: 2, manifests: [] };

  it(`accepts unknown members up to ${MAX_JSON_DEPTH} levels, which structuredClone copies`, () => {
    const m = parseManifest(withMember(manifest(), MAX_JSON_DEPTH - 1));
    assert.equal(JSON.stringify(structuredClone(m)).split('[').length - 1, MAX_JSON_DEPTH - 1 + 1); // the layers array too
    parseIndex(withMember(index, MAX_JSON_DEPTH - 1));
    parseImageConfig(withMember(config, MAX_JSON_DEPTH - 1));
  });

  it('refuses deeper documents with JSON_INVALID, not a RangeError in the copies that follow', () => {
    // 100,000 levels: JSON.parse copes, structuredClone (assembleImage, withConfig) overflowed the stack.
    for (const n of [MAX_JSON_DEPTH, 100_000]) {
      throwsOci(() => parseManifest(withMember(manifest(), n)), 'JSON_INVALID', `more than ${MAX_JSON_DEPTH} levels`);
      throwsOci(() => parseIndex(Buffer.from(withMember(index, n))), 'JSON_INVALID', `more than ${MAX_JSON_DEPTH} levels`);
      throwsOci(() => parseImageConfig(withMember({ ...config, config: { Labels: {} } }, n)), 'JSON_INVALID', `more than ${MAX_JSON_DEPTH} levels`);
    }
    const deepValue = JSON.parse(`{"a":${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}}`) as Record<string, unknown>;
    throwsOci(() => parseImageConfig({ ...config, 'x-extra': deepValue }), 'JSON_INVALID', 'levels deep');
  });

  it('refuses a number JSON.parse makes Infinity, which canonical JSON cannot write back', () => {
    // Found in rootfs.constructor: the config parsed, then withConfig (every FROM) threw a TypeError.
    const text = JSON.stringify(config).replace('"type":"layers"', '"type":"layers","constructor":1e400');
    assert.equal((JSON.parse(text) as { rootfs: Record<string, number> }).rootfs['constructor'], Infinity);
    throwsOci(() => parseImageConfig(text), 'JSON_INVALID', 'holds a number no double can hold (Infinity)');
    throwsOci(() => parseManifest(JSON.stringify(manifest()).replace('{', '{"x-extra":[-1e999],')), 'JSON_INVALID', '(-Infinity)');
    // Large but finite numbers, and -0, are held as they parse.
    assert.equal((parseImageConfig({ ...config, 'x-extra': 1e308 }) as unknown as Record<string, number>)['x-extra'], 1e308);
    parseImageConfig(JSON.stringify(config).replace('{', '{"x-extra":-0,'));
  });
});

describe('parseDescriptor', () => {
  const good = { mediaType: MediaType.OciLayer, digest: D1, size: 0 };

  it('returns the same object when valid', () => {
    assert.equal(parseDescriptor(good), good);
  });

  it('prefixes problem paths with the given pointer', () => {
    throwsOci(() => parseDescriptor({ ...good, digest: 'sha256:abc' }, '/manifests/3'), 'DESCRIPTOR_INVALID', '/manifests/3/digest: ');
  });

  it('checks size: integer, not negative, exactly representable', () => {
    assert.equal(parseDescriptor({ ...good, size: Number.MAX_SAFE_INTEGER }).size, 2 ** 53 - 1);
    throwsOci(() => parseDescriptor({ ...good, size: 2 ** 53 }), 'DESCRIPTOR_INVALID', '/size: ');
    throwsOci(() => parseDescriptor({ ...good, size: 1.5 }), 'DESCRIPTOR_INVALID', '/size: must be an integer');
    throwsOci(() => parseDescriptor({ ...good, size: '3' }), 'DESCRIPTOR_INVALID', '/size: must be an integer');
  });

  it('checks annotations, escaping "/" and "~" in the pointer', () => {
    throwsOci(() => parseDescriptor({ ...good, annotations: { 'a/b~c': 1 } }), 'DESCRIPTOR_INVALID', '/annotations/a~1b~0c: must be a string');
  });

  it('checks platform, urls, data and artifactType', () => {
    throwsOci(() => parseDescriptor({ ...good, platform: { os: 'linux' } }), 'DESCRIPTOR_INVALID', '/platform/architecture: is required');
    throwsOci(() => parseDescriptor({ ...good, urls: ['/relative'] }), 'DESCRIPTOR_INVALID', '/urls/0: ');
    throwsOci(() => parseDescriptor({ ...good, data: 'e30' }), 'DESCRIPTOR_INVALID', '/data: ');
    throwsOci(() => parseDescriptor({ ...good, artifactType: 'text/plain; charset=utf-8' }), 'DESCRIPTOR_INVALID', '/artifactType: ');
    const full = { ...good, platform: { architecture: 'arm64', os: 'linux', variant: 'v8', 'os.features': ['x'] }, data: 'e30=', urls: ['https://x.test/a?b#c'] };
    assert.deepEqual(parseDescriptor(full), full);
  });
});

describe('parseIndex, parseLayoutHeader', () => {
  it('parses an index and a Docker manifest list; rejects a manifest passed as index', () => {
    const entry = { mediaType: MediaType.OciManifest, digest: D1, size: 10, platform: { architecture: 'amd64', os: 'linux' } };
    assert.equal(parseIndex({ schemaVersion: 2, manifests: [entry] }).manifests[0]?.platform?.os, 'linux');
    assert.equal(parseIndex({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] }).manifests.length, 0);
    throwsOci(() => parseIndex(JSON.stringify(manifest())), 'INDEX_INVALID', '/mediaType: ');
  });

  it('accepts only imageLayoutVersion 1.0.0', () => {
    assert.equal(parseLayoutHeader('{"imageLayoutVersion":"1.0.0"}').imageLayoutVersion, '1.0.0');
    throwsOci(() => parseLayoutHeader({ imageLayoutVersion: '1.1.0' }), 'LAYOUT_INVALID', '/imageLayoutVersion: ');
  });
});

describe('parseImageConfig', () => {
  const base = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [D1] } };

  it('drops null Volumes and Labels in a copy, leaving the input alone', () => {
    const input = { ...base, config: { Volumes: null, Labels: null, Cmd: null, Env: ['A=b=c', 'EMPTY='] } };
    const config = parseImageConfig(input);
    assert.deepEqual(config.config, { Cmd: null, Env: ['A=b=c', 'EMPTY='] });
    assert.equal(input.config.Volumes, null);
    assert.equal(config.rootfs.diff_ids[0], D1);
  });

  it('checks Env, created, history, rootfs and the Docker extensions', () => {
    throwsOci(() => parseImageConfig({ ...base, config: { Env: ['=x'] } }), 'CONFIG_INVALID', '/config/Env/0: ');
    throwsOci(() => parseImageConfig({ ...base, created: '2015-02-29T00:00:00Z' }), 'CONFIG_INVALID', '/created: ');
    throwsOci(() => parseImageConfig({ ...base, history: [{ created: 'yesterday' }] }), 'CONFIG_INVALID', '/history/0/created: ');
    throwsOci(() => parseImageConfig({ ...base, rootfs: { type: 'layers', diff_ids: ['sha256:x'] } }), 'CONFIG_INVALID', '/rootfs/diff_ids/0: ');
    throwsOci(() => parseImageConfig({ ...base, rootfs: { type: 'tar', diff_ids: [] } }), 'CONFIG_INVALID', '/rootfs/type: ');
    throwsOci(() => parseImageConfig({ ...base, config: { Healthcheck: { Interval: '5s' } } }), 'CONFIG_INVALID', '/config/Healthcheck/Interval: ');
    throwsOci(() => parseImageConfig({ ...base, config: { ExposedPorts: { '80/tcp': true } } }), 'CONFIG_INVALID', '/config/ExposedPorts/80~1tcp: ');
    throwsOci(() => parseImageConfig({ os: 'linux', rootfs: base.rootfs }), 'CONFIG_INVALID', '/architecture: is required');
  });
});

describe('validateOciDocument', () => {
  const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

  it('dispatches Docker schema2 media types to the OCI shapes', () => {
    assert.deepEqual(validateOciDocument(MediaType.DockerManifest, bytes(manifest())), { ok: true });
    assert.deepEqual(validateOciDocument(MediaType.DockerManifestList, bytes({ schemaVersion: 2, manifests: [] })), { ok: true });
    const result = validateOciDocument(MediaType.DockerConfig, bytes({ os: 'linux' }));
    assert.deepEqual(result, { ok: false, errors: ['/architecture: is required', '/rootfs: is required'] });
  });

  it('throws MEDIA_TYPE_UNSUPPORTED for a media type with no validator', () => {
    throwsOci(() => validateOciDocument(MediaType.OciLayerGzip, bytes({})), 'MEDIA_TYPE_UNSUPPORTED', MediaType.OciLayerGzip);
  });

  it('agrees with the ajv schema validator on hand-made documents', () => {
    const cases: Array<[string, unknown, boolean]> = [
      [MediaType.OciManifest, manifest(), true],
      [MediaType.OciManifest, manifest({ annotations: { a: 'b' }, subject: { mediaType: 'a/b', digest: D1, size: 1 } }), true],
      [MediaType.OciManifest, manifest({ annotations: { a: 1 } }), false],
      [MediaType.OciManifest, manifest({ artifactType: 'nope' }), false],
      [MediaType.OciIndex, { schemaVersion: 2, manifests: [{ mediaType: 'a/b', digest: D1, size: 1, urls: ['ftp://h/p'] }] }, true],
      [MediaType.OciIndex, { schemaVersion: 3, manifests: [] }, false],
      [MediaType.OciConfig, { architecture: 'a', os: 'o', rootfs: { type: 'layers', diff_ids: [] }, created: '2024-01-01T00:00:00.5+01:00' }, true],
      [MediaType.OciConfig, { architecture: 'a', os: 'o', rootfs: { type: 'layers', diff_ids: [] }, created: '2024-13-01T00:00:00Z' }, false],
      [MediaType.OciConfig, { architecture: 'a', os: 'o', rootfs: { type: 'layers' } }, false],
      [MediaType.OciDescriptor, { mediaType: 'a/b', digest: `sha512:${'0'.repeat(128)}`, size: 1 }, true],
      [MediaType.OciDescriptor, { mediaType: 'a/b', digest: `sha512:${'0'.repeat(64)}`, size: 1 }, false],
    ];
    for (const [mediaType, doc, valid] of cases) {
      const lib = validateOciDocument(mediaType, bytes(doc)).ok;
      const ajv = schemaErrors(mediaType, JSON.stringify(doc)).length === 0;
      assert.deepEqual([lib, ajv], [valid, valid], JSON.stringify(doc));
    }
  });
});

describe('string rules', () => {
  it('isUri: absolute RFC 3986 URIs only, agreeing with ajv-formats "uri"', () => {
    const cases: Array<[string, boolean]> = [
      ['https://example.com/foo', true], ['http://[::1]:5000/v2/', true], ['urn:isbn:0451450523', true],
      ['s3://bucket/key%20name?x=1#frag', true], ['file:///etc/hosts', true], ['mailto:a@b.c', true],
      ['value', false], ['/abs/path', false], ['//host/p', false], ['http://a b/', false],
      ['http://x/%zz', false], ['1http://x', false], ['http://x/#a#b', false], ['', false],
    ];
    for (const [s, expected] of cases) {
      assert.equal(isUri(s), expected, s);
      const viaSchema = schemaErrors(MediaType.OciDescriptor, JSON.stringify({ mediaType: 'a/b', digest: D1, size: 1, urls: [s] }));
      assert.equal(viaSchema.length === 0, expected, `ajv on ${s}`);
    }
  });

  it('isStdBase64: standard alphabet with padding', () => {
    for (const s of ['', 'e30=', 'aGk=', 'YQ==', 'ab+/']) assert.ok(isStdBase64(s), s);
    for (const s of ['e30', 'YQ', 'ab-_', 'e3=0', 'e30=\n', '====', 'Y===']) assert.ok(!isStdBase64(s), s);
  });

  it('isDateTime: RFC 3339 with every field in range', () => {
    for (const s of ['2015-10-31T22:22:56.015925234Z', '2024-02-29t00:00:00z', '1999-12-31T23:59:59-08:00']) assert.ok(isDateTime(s), s);
    for (const s of ['2023-02-29T00:00:00Z', '2015-10-31 22:22:56Z', '2015-10-31T24:00:00Z', '2015-10-31T22:22:56', '2016-12-31T23:59:60Z', '2015-04-31T00:00:00Z']) {
      assert.ok(!isDateTime(s), s);
    }
  });

  it('isEnvEntry and isMediaType', () => {
    assert.deepEqual(['A=', 'A=b=c', 'PATH=/bin', '=x', 'A', 'A=x\ny'].map(isEnvEntry), [true, true, true, false, false, false]);
    assert.deepEqual(['a/b', 'application/vnd.oci.image.manifest.v1+json', 'a', 'a/b;c=d', 'a/.b', `${'a'.repeat(128)}/b`].map(isMediaType), [true, true, false, false, false, false]);
  });
});
