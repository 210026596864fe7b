/**
 * `--cache-to` / `--cache-from` values (lib/build/cache-spec.ts), in buildx's
 * words: CSV records of key=value (Go's encoding/csv quoting), the bare-ref
 * shorthand, and CACHE_SPEC_INVALID for everything kiln cannot honour.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CacheError } from '../../lib/build/build-error.ts';
import { csvRecord, describeCache, parseCacheFrom, parseCacheTo } from '../../lib/build/cache-spec.ts';
import { prng } from '../helpers/random-image.ts';

const D = `sha256:${'ab'.repeat(32)}`;
const ref = (registry: string, repository: string, tag: string | undefined, digest?: string) => ({ registry, repository, tag, digest });

test('--cache-to: registry and local, with their defaults', () => {
  assert.deepEqual(parseCacheTo(['type=registry,ref=127.0.0.1:5000/team/app:buildcache,mode=max']), [
    { type: 'registry', ref: ref('127.0.0.1:5000', 'team/app', 'buildcache'), mode: 'max' },
  ]);
  assert.deepEqual(parseCacheTo(['type=registry,ref=reg.example/app']), [{ type: 'registry', ref: ref('reg.example', 'app', 'latest'), mode: 'min' }]);
  assert.deepEqual(parseCacheTo(['type=local,dest=/mnt/cache']), [{ type: 'local', dest: '/mnt/cache', tag: 'latest', mode: 'min' }]);
  assert.deepEqual(parseCacheTo(['type=local,dest=rel/dir,tag=v1,mode=max,oci-mediatypes=true,image-manifest=true']), [
    { type: 'local', dest: 'rel/dir', tag: 'v1', mode: 'max' },
  ]);
  // keys are case-insensitive and trimmed, values are not (buildx lower-cases keys)
  assert.deepEqual(parseCacheTo(['TYPE=registry, Ref=reg.example/app-cache']), [{ type: 'registry', ref: ref('reg.example', 'app-cache', 'latest'), mode: 'min' }]);
  // repeated flags keep their order
  assert.deepEqual(parseCacheTo(['type=local,dest=a', 'type=local,dest=b']).map((s) => (s.type === 'local' ? s.dest : '')), ['a', 'b']);
});

test('--cache-from: registry, local (tag or digest), in order', () => {
  assert.deepEqual(parseCacheFrom(['type=registry,ref=reg.example:5000/a/b:c', 'type=local,src=/cache', `type=local,src=/cache,digest=${D}`, 'type=local,src=x,tag=main']), [
    { type: 'registry', ref: ref('reg.example:5000', 'a/b', 'c') },
    { type: 'local', src: '/cache', tag: 'latest', digest: undefined },
    { type: 'local', src: '/cache', tag: 'latest', digest: D },
    { type: 'local', src: 'x', tag: 'main', digest: undefined },
  ]);
  assert.deepEqual(parseCacheFrom([`type=registry,ref=reg.example/app@${D}`]), [{ type: 'registry', ref: ref('reg.example', 'app', undefined, D) }]);
});

test("buildx's shorthand: a bare reference is type=registry,ref=REF (several, comma-separated)", () => {
  assert.deepEqual(parseCacheFrom(['user/app']), [{ type: 'registry', ref: ref('docker.io', 'user/app', 'latest') }]);
  assert.deepEqual(parseCacheFrom(['reg.example:5000/a:1,reg.example:5000/b:2']), [
    { type: 'registry', ref: ref('reg.example:5000', 'a', '1') },
    { type: 'registry', ref: ref('reg.example:5000', 'b', '2') },
  ]);
  assert.deepEqual(parseCacheTo(['user/app:cache']), [{ type: 'registry', ref: ref('docker.io', 'user/app', 'cache'), mode: 'min' }]);
});

test("quoting as Go's encoding/csv reads it", () => {
  assert.deepEqual(parseCacheTo(['type=local,"dest=/a,b"']), [{ type: 'local', dest: '/a,b', tag: 'latest', mode: 'min' }]);
  assert.deepEqual(parseCacheFrom(['"type=local","src=x""y"']), [{ type: 'local', src: 'x"y', tag: 'latest', digest: undefined }]);
  assert.deepEqual(csvRecord('a,,"",b'), ['a', '', '', 'b']);
  assert.deepEqual(csvRecord('"a\nb",c'), ['a\nb', 'c'], 'a line break inside quotes is data');
});

function assertInvalid(fn: () => unknown, what: string, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CacheError, `${what}: expected CACHE_SPEC_INVALID, got ${String(caught)}`);
  assert.equal(caught.code, 'CACHE_SPEC_INVALID', what);
  if (pattern !== undefined) assert.match(caught.message, pattern, what);
}

test('every value kiln cannot honour is CACHE_SPEC_INVALID', () => {
  const to: [string, RegExp?][] = [
    ['', /empty/],
    ['type=inline', /no "inline" cache/],
    ['type=gha,scope=x', /no "gha" cache/],
    ['type=Registry,ref=a/b', /no "Registry" cache/],
    ['ref=reg.example/a', /type= is required/],
    ['type=,ref=reg.example/a', /type= is required/],
    ['type=registry', /ref= is required/],
    ['type=registry,ref=', /ref= is required/],
    ['type=registry,ref=reg.example/a,foo=1', /not foo=/],
    ['type=registry,ref=reg.example/a,dest=/x', /not dest=/],
    ['type=registry,ref=reg.example/a,mode=all', /mode=all/],
    ['type=registry,ref=reg.example/a,mode=MAX', /mode=MAX/],
    ['type=registry,ref=reg.example/a,ref=reg.example/b', /given twice/],
    ['type=registry,ref=reg.example/a,oci-mediatypes=false', /oci-mediatypes=false/],
    ['type=registry,ref=reg.example/a,image-manifest=false', /image-manifest=false/],
    ['type=registry,ref=reg.example/a,compression=zstd', /not compression=/],
    ['type=registry,ref=reg.example/a,ignore-error=true', /not ignore-error=/],
    [`type=registry,ref=reg.example/a@${D}`, /under a tag, not a digest/],
    ['type=registry,ref=Reg.Example/UPPER', /invalid image reference/],
    ['type=registry,foo', /"foo" is not key=value/],
    ['type=local', /dest= is required/],
    ['type=local,src=/x', /not src=/],
    ['type=local,dest=/x,tag=-bad', /not a valid OCI layout reference name/],
    ['type=local,dest=/x,digest=' + D, /not digest=/],
    ['type=local,dest=a"b', /bare "/],
    ['type=local,"dest=a', /no closing quote/],
    ['type=local,"dest=a"b', /extraneous/],
    ['type=local,dest=/x\nfoo', /line break/],
    ['a,,b', /invalid image reference/],
    ['reg.example/Upper', /invalid image reference/],
  ];
  for (const [value, pattern] of to) assertInvalid(() => parseCacheTo([value]), `--cache-to ${JSON.stringify(value)}`, pattern);
  const from: [string, RegExp?][] = [
    ['type=registry,ref=reg.example/a,mode=max', /not mode=/],
    ['type=local,dest=/x', /not dest=/],
    ['type=local', /src= is required/],
    ['type=local,src=/x,digest=sha256:abc', /not a digest/],
    ['type=local,src=/x,tag=a b', /not a valid OCI layout reference name/],
    ['type=s3,region=x', /no "s3" cache/],
  ];
  for (const [value, pattern] of from) assertInvalid(() => parseCacheFrom([value]), `--cache-from ${JSON.stringify(value)}`, pattern);
  // one bad value among good ones fails the whole list
  assertInvalid(() => parseCacheFrom(['type=local,src=/a', 'type=nope']), 'a list with one bad value');
});

test('random values parse or fail with CACHE_SPEC_INVALID, nothing else', () => {
  const rand = prng(11);
  const alphabet = ['type', 'registry', 'local', 'ref', 'dest', 'src', 'mode', 'max', 'tag', 'digest', '=', ',', '"', '/', ':', '@', 'a', 'R', ' ', '\n', 'sha256:'];
  let parsed = 0;
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let n = Math.floor(rand() * 12); n > 0; n--) s += alphabet[Math.floor(rand() * alphabet.length)];
    for (const parse of [parseCacheTo, parseCacheFrom]) {
      try {
        parse([s]);
        parsed++;
      } catch (err) {
        assert.ok(err instanceof CacheError && err.code === 'CACHE_SPEC_INVALID', `${JSON.stringify(s)}: ${String(err)}`);
      }
    }
  }
  assert.ok(parsed > 0, 'some random values are valid');
});

test('describeCache names a cache for messages', () => {
  assert.equal(describeCache(parseCacheFrom(['reg.example/a:b'])[0]!), 'reg.example/a:b');
  assert.equal(describeCache(parseCacheTo(['type=local,dest=/c,tag=t'])[0]!), 'local /c:t');
  assert.equal(describeCache(parseCacheFrom([`type=local,src=/c,digest=${D}`])[0]!), `local /c@${D}`);
});
