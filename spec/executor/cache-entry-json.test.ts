/**
 * A cache entry's JSON (what the local cache writes per key, and a
 * registry cache's config holds per key) read back: a valid entry round
 * trips; anything else is refused with an error, never passed on into an
 * image config (a string or array `config` used to be spread into
 * numbered members) and never a crash on `null`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFromJson, entryToJson } from '../../lib/executor/index.ts';

const layer = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${'a'.repeat(64)}`,
  size: 10,
  diffId: `sha256:${'b'.repeat(64)}`,
  uncompressedSize: 20,
};
const valid = {
  format: 'kiln.cache.step.v1',
  layer,
  history: { created: '2026-01-01T00:00:00Z', created_by: 'RUN true' },
  config: { architecture: 'amd64', os: 'linux', config: { Env: ['A=1'] } },
  args: [['A', '1'], ['B', null]],
};

test('a valid entry round trips', () => {
  const entry = entryFromJson(valid);
  assert.equal(entry.layer?.descriptor.digest, layer.digest);
  assert.equal(entry.layer?.diffId, layer.diffId);
  assert.deepEqual([...entry.args], [['A', '1'], ['B', undefined]]);
  assert.deepEqual(entryFromJson(JSON.parse(JSON.stringify(entryToJson(entry)))), entry);
});

test('anything else is refused', () => {
  const bad: unknown[] = [
    null,
    [],
    'entry',
    { ...valid, config: 'abc' },
    { ...valid, config: ['x'] },
    { ...valid, config: null },
    { ...valid, layer: 'x' },
    { ...valid, layer: { ...layer, digest: `sha512:${'a'.repeat(128)}` } },
    { ...valid, layer: { ...layer, diffId: 'b'.repeat(64) } },
    { ...valid, args: [[1, 'x']] },
    { ...valid, format: 'kiln.cache.step.v0' },
  ];
  for (const doc of bad) assert.throws(() => entryFromJson(doc), (e: unknown) => e instanceof Error, JSON.stringify(doc));
});
