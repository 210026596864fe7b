/**
 * The build cache with RUN (busybox from the offline base images, the real
 * sandbox): a RUN whose inputs did not change is not run; one after a
 * changed COPY is; a stage only copied from is not run when cached, nor is
 * its filesystem built; bind mounts' contents are in the key, secrets'
 * values are not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBaseImages } from '../helpers/base-images.ts';
import { EPOCH, writeContext } from './build-kit.ts';
import { cacheBuild, cachedFlags, imageFs, T1, T2 } from './cache-kit.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-run-'));
const home = join(tmp, 'home');
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const context = (files: Record<string, string>) => writeContext(join(tmp, `ctx${++n}`), files);

describe('the build cache with RUN', () => {
  before(async () => {
    await loadBaseImages(home);
  });

  test('a RUN after a COPY whose file changed runs again; a RUN whose inputs did not change is not run, its layer applied instead', async () => {
    const ctx = context({
      Dockerfile: 'FROM busybox\nCOPY a /a\nRUN echo ran-a; cat /a > /out-a\nCOPY b /b\nRUN echo ran-b; cat /out-a /b > /out-b\n',
      a: 'A',
      b: 'B',
    });
    const first = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    assert.match(first.output, /ran-a[\s\S]*ran-b/);
    const noop = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(noop), [true, true, true, true]);
    assert.equal(noop.output, '', 'nothing ran');
    assert.equal(noop.image.descriptor.digest, first.image.descriptor.digest);
    writeFileSync(join(ctx, 'b'), 'B2');
    const second = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(second), [true, true, false, false]);
    assert.doesNotMatch(second.output, /ran-a/);
    assert.match(second.output, /ran-b/);
    assert.equal(second.cache.appliedLayers, 1, 'the first RUN\'s cached layer was applied to build the filesystem');
    const fs = await imageFs(second.image);
    assert.equal(fs['out-a']?.text, 'A');
    assert.equal(fs['out-b']?.text, 'AB2');
  });

  test('a stage used only through COPY --from and fully cached is not run, and its filesystem is not built', async () => {
    const ctx = context({
      Dockerfile: 'FROM busybox AS builder\nRUN echo ran-builder; echo built > /o\n\nFROM scratch\nCOPY --from=builder /o /o\nCOPY f /f\n',
      f: '1',
    });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    writeFileSync(join(ctx, 'f'), '2');
    const r = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(r, 'builder'), [true]);
    assert.deepEqual(cachedFlags(r, 'stage-1'), [true, false]);
    assert.equal(r.output, '');
    assert.equal(r.cache.appliedLayers, 1, 'only the COPY --from layer is applied (the builder\'s RUN layer and busybox never are)');
    const fs = await imageFs(r.image);
    assert.deepEqual([fs['o']?.text, fs['f']?.text], ['built\n', '2']);
  });

  test('when a COPY --from of a cached stage misses, the stage\'s filesystem is rebuilt from its cached layers, not by running it', async () => {
    const ctx = context({
      Dockerfile: 'FROM busybox AS builder\nRUN echo ran-builder2; echo built2 > /o\n\nFROM scratch\nCOPY f /f\nCOPY --from=builder /o /o\n',
      f: '1',
    });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    writeFileSync(join(ctx, 'f'), '2');
    const r = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(r), [true, false, false]);
    assert.equal(r.output, '');
    assert.equal((await imageFs(r.image))['o']?.text, 'built2\n');
  });

  test('--no-cache-filter runs the stage again; when it makes the same layer, the stage copying from it stays cached', async () => {
    const ctx = context({ Dockerfile: 'FROM busybox AS builder\nRUN echo ran-builder3; echo same > /o\n\nFROM scratch\nCOPY --from=builder /o /o\n' });
    const first = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    const r = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, noCacheFilter: ['builder'] });
    assert.match(r.output, /ran-builder3/);
    assert.deepEqual(cachedFlags(r, 'builder'), [false]);
    assert.equal(r.cache.packedLayers, 1, 'only the builder\'s RUN was packed');
    // With SOURCE_DATE_EPOCH the RUN makes the very same layer (the sandbox's capture is deterministic) …
    assert.deepEqual(cachedFlags(r, 'stage-1'), [true], 'so the COPY --from keyed by that layer hits');
    assert.equal(r.image.descriptor.digest, first.image.descriptor.digest);
    // … while a RUN that writes something new changes the key of what copies from it.
    const random = context({ Dockerfile: 'FROM busybox AS builder\nRUN head -c 16 /dev/urandom | od -An -tx1 > /o\n\nFROM scratch\nCOPY --from=builder /o /o\n' });
    await cacheBuild({ contextDir: random, home, epoch: EPOCH, now: T1 });
    const forced = await cacheBuild({ contextDir: random, home, epoch: EPOCH, now: T2, noCacheFilter: ['builder'] });
    assert.deepEqual(cachedFlags(forced), [false, false]);
  });

  test('a bind mount\'s content is part of the key; a secret\'s value is not (and is never written to the cache)', async () => {
    const ctx = context({
      Dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=m.txt,target=/m echo ran-bind; cat /m > /o\nRUN --mount=type=secret,id=tok echo ran-secret; wc -c /run/secrets/tok > /s\n',
      'm.txt': 'one',
    });
    const secrets = (v: string) => new Map([['tok', Buffer.from(v)]]);
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1, secrets: secrets('secret-value-1111') });
    const other = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, secrets: secrets('secret-value-2222') });
    assert.deepEqual(cachedFlags(other), [true, true]);
    assert.equal(other.output, '');
    for (const name of readdirSync(join(home, 'cache', 'steps'))) {
      assert.doesNotMatch(readFileSync(join(home, 'cache', 'steps', name), 'utf8'), /secret-value/);
    }
    writeFileSync(join(ctx, 'm.txt'), 'two');
    const changed = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, secrets: secrets('secret-value-2222') });
    assert.deepEqual(cachedFlags(changed), [false, false]);
    assert.equal((await imageFs(changed.image))['o']?.text, 'two');
  });
});
