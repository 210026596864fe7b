import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Descriptor, Platform } from '../../lib/oci/index.ts';
import { compatiblePlatforms, resolvePlatform } from '../../lib/registry/platform-match.ts';
import { parseDigest } from '../../lib/digest/index.ts';

let n = 0;
function entry(p: Platform | undefined): Descriptor {
  n++;
  const d: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: parseDigest(`sha256:${n.toString(16).padStart(64, '0')}`), size: 1 };
  if (p !== undefined) d.platform = p;
  return d;
}
const linux = (architecture: string, variant?: string): Platform => (variant === undefined ? { os: 'linux', architecture } : { os: 'linux', architecture, variant });
const pick = (manifests: Descriptor[], want: Platform): Platform | undefined => resolvePlatform({ manifests }, want)?.platform;

test('exact os/arch wins; entries without a platform never match', () => {
  const idx = [entry(undefined), entry(linux('arm64')), entry(linux('amd64')), entry({ os: 'unknown', architecture: 'unknown' })];
  assert.deepEqual(pick(idx, linux('amd64')), linux('amd64'));
  assert.deepEqual(pick(idx, linux('arm64')), linux('arm64'));
  assert.equal(pick(idx, linux('s390x')), undefined);
  assert.equal(pick(idx, { os: 'windows', architecture: 'amd64' }), undefined);
});

test('arm64/v8 and arm64 are the same platform; aliases are normalized', () => {
  assert.deepEqual(pick([entry(linux('arm64', 'v8'))], linux('arm64')), linux('arm64', 'v8'));
  assert.deepEqual(pick([entry(linux('arm64'))], linux('aarch64')), linux('arm64'));
  assert.deepEqual(pick([entry(linux('amd64'))], linux('x86_64')), linux('amd64'));
  assert.deepEqual(pick([entry({ os: 'Linux', architecture: 'AMD64' })], linux('amd64')), { os: 'Linux', architecture: 'AMD64' });
});

test('arm defaults to v7 and runs v6 and v5 images, best first', () => {
  const idx = [entry(linux('arm', 'v5')), entry(linux('arm', 'v6')), entry(linux('arm', 'v7'))];
  assert.deepEqual(pick(idx, linux('arm')), linux('arm', 'v7'));
  assert.deepEqual(pick(idx.slice(0, 2), linux('arm', 'v7')), linux('arm', 'v6'));
  assert.deepEqual(pick(idx.slice(0, 2), linux('arm', 'v6')), linux('arm', 'v6'));
  assert.equal(pick([entry(linux('arm', 'v7'))], linux('arm', 'v6')), undefined);
  assert.deepEqual(pick([entry(linux('arm'))], linux('arm', 'v7')), linux('arm'));
});

test('amd64 runs 386 images only when nothing better exists; v3 runs v2 and v1', () => {
  assert.deepEqual(pick([entry(linux('386')), entry(linux('amd64'))], linux('amd64')), linux('amd64'));
  assert.deepEqual(pick([entry(linux('386'))], linux('amd64')), linux('386'));
  assert.deepEqual(pick([entry(linux('amd64')), entry(linux('amd64', 'v2'))], linux('amd64', 'v3')), linux('amd64', 'v2'));
  assert.equal(pick([entry(linux('amd64', 'v3'))], linux('amd64')), undefined);
});

test('arm64 falls back to 32-bit arm (containerd platforms.Only)', () => {
  assert.deepEqual(pick([entry(linux('arm', 'v7')), entry(linux('arm64'))], linux('arm64')), linux('arm64'));
  assert.deepEqual(pick([entry(linux('arm', 'v7'))], linux('arm64')), linux('arm', 'v7'));
  const order = compatiblePlatforms(linux('arm64', 'v8.2')).map((p) => `${p.architecture}/${p.variant}`);
  assert.deepEqual(order, ['arm64/v8.2', 'arm64/v8.1', 'arm64/', 'arm/v8', 'arm/v7', 'arm/v6', 'arm/v5']);
  const v9 = compatiblePlatforms(linux('arm64', 'v9.1')).map((p) => p.variant);
  assert.deepEqual(v9.slice(0, 4), ['v9.1', 'v9', 'v8.6', 'v8.5']);
});

test('among equal matches the first in the index wins', () => {
  const a = entry(linux('amd64'));
  const b = entry(linux('amd64'));
  assert.equal(resolvePlatform({ manifests: [a, b] }, linux('amd64')), a);
});

test('a made-up huge variant lists a bounded number of fallbacks (found by make fuzz: it filled the memory)', () => {
  for (const [architecture, variant] of [['arm64', 'v8.99999999'], ['arm64', 'v9.1e300'], ['amd64', 'v99999999'], ['arm', 'v99999999']] as const) {
    const list = compatiblePlatforms({ os: 'linux', architecture, variant });
    assert.ok(list.length < 64, `${architecture}/${variant}: ${list.length}`);
    assert.deepEqual(list[0], { os: 'linux', architecture, variant });
  }
  const arm64 = compatiblePlatforms({ os: 'linux', architecture: 'arm64', variant: 'v8.99999999' }).map((p) => `${p.architecture}/${p.variant}`);
  assert.ok(arm64.includes('arm64/v8.1') && arm64.includes('arm64/') && arm64.includes('arm/v7'), arm64.join(' '));
});
