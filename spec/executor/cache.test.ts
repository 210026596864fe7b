/**
 * The build cache without RUN: keys chained from the base, the instruction,
 * its variables and the content of its inputs; hits that neither pack
 * layers nor read context files; misses from the first changed step on;
 * --no-cache and --no-cache-filter; entries that can no longer hit.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CTX_MTIME, EPOCH, writeContext } from './build-kit.ts';
import { blobCount, cacheBuild, cachedFlags, imageFs, T1, T2 } from './cache-kit.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A fresh context and store for one test. */
function fresh(files: Record<string, string>): { ctx: string; home: string } {
  const dir = join(tmp, `t${++n}`);
  return { ctx: writeContext(join(dir, 'ctx'), files), home: join(dir, 'home') };
}
const oldTime = (path: string) => utimesSync(path, CTX_MTIME, CTX_MTIME);

describe('a no-op rebuild', () => {
  const files = {
    Dockerfile: 'FROM scratch\nARG V=1\nENV E=$V\nCOPY a.txt /a\nWORKDIR /w\nCOPY dir/ ./dir/\nLABEL l=x\nEXPOSE 80\nCMD ["/x"]\n',
    'a.txt': 'a',
    'dir/one': 'one',
    'dir/sub/two': 'two',
  };

  test('hits every step, packs no layer, reads no context file, writes no blob and makes the same image', async () => {
    const { ctx, home } = fresh(files);
    const first = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    assert.deepEqual(cachedFlags(first), [false, false, false, false, false, false, false, false]);
    assert.equal(first.layers, 3);
    assert.equal(first.cache.hashedFiles, 3, 'the first build reads every copied file once');
    const blobs = blobCount(home);
    const second = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(second), [true, true, true, true, true, true, true, true]);
    assert.equal(second.layers, 0, 'no layer event: nothing packed');
    assert.equal(second.cache.packedLayers, 0);
    assert.equal(second.cache.hashedFiles, 0, 'context files are stat\'ed, not read');
    assert.equal(second.cache.statedFiles, 3);
    assert.equal(second.cache.appliedLayers + second.cache.replayedSteps, 0, 'no filesystem was built');
    assert.equal(blobCount(home), blobs, 'no new blob');
    assert.equal(second.image.descriptor.digest, first.image.descriptor.digest);
    const fs = await imageFs(second.image);
    assert.equal(fs['a']?.text, 'a');
    assert.equal(fs['w/dir/sub/two']?.text, 'two');
  });

  test('without SOURCE_DATE_EPOCH the image is the same too: history and config keep the first build\'s time (BuildKit)', async () => {
    const { ctx, home } = fresh(files);
    const first = await cacheBuild({ contextDir: ctx, home, now: T1 });
    const second = await cacheBuild({ contextDir: ctx, home, now: T2 });
    assert.equal(second.image.descriptor.digest, first.image.descriptor.digest);
    assert.equal(second.image.config.created, '2024-05-06T07:08:09Z');
    assert.ok(second.image.config.history!.every((h) => h.created === '2024-05-06T07:08:09Z'));
    const uncached = await cacheBuild({ contextDir: ctx, home, now: T2, noCache: true });
    assert.equal(uncached.image.config.created, '2024-06-07T08:09:10Z', 'run again, the steps take the new time');
    assert.notEqual(uncached.image.descriptor.digest, first.image.descriptor.digest);
  });

  test('the cache lives in $KILN_HOME/cache: one JSON file per step, and the file-hash index', async () => {
    const { ctx, home } = fresh(files);
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    const entries = readdirSync(join(home, 'cache', 'steps'));
    assert.equal(entries.length, 8);
    for (const name of entries) {
      assert.match(name, /^[a-f0-9]{64}\.json$/);
      const doc = JSON.parse(readFileSync(join(home, 'cache', 'steps', name), 'utf8'));
      assert.equal(doc.format, 'kiln.cache.step.v1');
      if (doc.layer) assert.ok(statSync(join(home, 'blobs', 'sha256', doc.layer.digest.slice(7))).size === doc.layer.size);
    }
    const index = JSON.parse(readFileSync(join(home, 'cache', 'file-hashes.json'), 'utf8'));
    const hashes = Object.values(index.entries).sort();
    const expected = ['a', 'one', 'two'].map((t) => createHash('sha256').update(t).digest('hex')).sort();
    assert.deepEqual(hashes, expected, 'the index holds the files\' sha256');
  });
});

describe('what misses', () => {
  const dockerfile = 'FROM scratch\nCOPY a /a\nENV X=1\nCOPY b /b\nLABEL y=1\nCOPY c /c\n';

  test('a changed context file misses its COPY and every later step, not the earlier ones; only it is read again', async () => {
    const { ctx, home } = fresh({ Dockerfile: dockerfile, a: 'a', b: 'b', c: 'c' });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    writeFileSync(join(ctx, 'b'), 'B2');
    oldTime(join(ctx, 'b'));
    const second = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(second), [true, true, false, false, false]);
    assert.equal(second.cache.hashedFiles, 1);
    const fs = await imageFs(second.image);
    assert.deepEqual([fs['a']?.text, fs['b']?.text, fs['c']?.text], ['a', 'B2', 'c']);
    // the same image as a build that never saw the old file
    const clean = fresh({ Dockerfile: dockerfile, a: 'a', b: 'B2', c: 'c' });
    const fromScratch = await cacheBuild({ contextDir: clean.ctx, home: clean.home, epoch: EPOCH, now: T2 });
    assert.equal(second.image.descriptor.digest, fromScratch.image.descriptor.digest);
  });

  test('a touched but unchanged file still hits (mtimes are not in the key, as BuildKit); the tree then comes from the cached layer', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY a /a\nCOPY b /b\n', a: 'a', b: 'b' });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    utimesSync(join(ctx, 'a'), CTX_MTIME + 5000, CTX_MTIME + 5000);
    writeFileSync(join(ctx, 'b'), 'b2');
    const out = join(tmp, 'touched-out');
    const second = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, outputs: [{ type: 'local', dest: out }] });
    assert.deepEqual(cachedFlags(second), [true, false]);
    assert.deepEqual([second.cache.appliedLayers, second.cache.replayedSteps], [1, 0], 'the touched COPY cannot be redone exactly: its layer is applied');
    assert.equal(Math.floor(statSync(join(out, 'a')).mtimeMs / 1000), CTX_MTIME, 'the output agrees with the image: the cached mtime');
    assert.equal((await imageFs(second.image))['a']?.mtime, CTX_MTIME);
  });

  test('an untouched cached COPY is redone on the filesystem (no layer applied) when a later step needs it', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY a /a\nWORKDIR /w\nCOPY b /b\n', a: 'a', b: 'b' });
    await cacheBuild({ contextDir: ctx, home, now: T1 });
    writeFileSync(join(ctx, 'b'), 'b2');
    oldTime(join(ctx, 'b'));
    const out = join(tmp, 'replay-out');
    const second = await cacheBuild({ contextDir: ctx, home, now: T2, outputs: [{ type: 'local', dest: out }] });
    assert.deepEqual(cachedFlags(second), [true, true, false]);
    assert.deepEqual([second.cache.appliedLayers, second.cache.replayedSteps], [0, 2]);
    assert.equal(readFileSync(join(out, 'a'), 'utf8'), 'a');
    assert.equal(statSync(join(out, 'w')).mtimeMs / 1000, T1.getTime() / 1000, 'WORKDIR redone with the clock of the build that made it');
    const fs = await imageFs(second.image);
    assert.equal(fs['w']?.mtime, T1.getTime() / 1000, 'as in the cached layer');
  });

  test('a changed ENV misses from there on; a changed build arg misses from its ARG on', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY a /a\nARG V\nENV X=1\nCOPY a /a2\n', a: 'a' });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1, buildArgs: { V: '1' } });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\nARG V\nENV X=2\nCOPY a /a2\n');
    const env = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, buildArgs: { V: '1' } });
    assert.deepEqual(cachedFlags(env), [true, true, false, false]);
    const arg = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, buildArgs: { V: '2' } });
    assert.deepEqual(cachedFlags(arg), [true, false, false, false]);
    const again = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, buildArgs: { V: '1' } });
    assert.deepEqual(cachedFlags(again), [true, true, true, true], 'both variants stay cached');
  });

  test('another SOURCE_DATE_EPOCH is another layer: it misses', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    const other = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH + 1, now: T1 });
    assert.deepEqual(cachedFlags(other), [false]);
  });

  test('a tag moved to another base image misses: the key holds the manifest digest', async () => {
    const base = fresh({ Dockerfile: 'FROM scratch\nCOPY x /x\n', x: 'one' });
    const { home } = base;
    await cacheBuild({ contextDir: base.ctx, home, epoch: EPOCH, now: T1, tags: ['cache-base:1'] });
    const child = writeContext(join(tmp, 'child'), { Dockerfile: 'FROM cache-base:1\nCOPY c /c\n', c: 'c' });
    await cacheBuild({ contextDir: child, home, epoch: EPOCH, now: T1 });
    assert.deepEqual(cachedFlags(await cacheBuild({ contextDir: child, home, epoch: EPOCH, now: T2 })), [true]);
    writeFileSync(join(base.ctx, 'x'), 'two');
    await cacheBuild({ contextDir: base.ctx, home, epoch: EPOCH, now: T1, tags: ['cache-base:1'] });
    const moved = await cacheBuild({ contextDir: child, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(moved), [false]);
    assert.equal((await imageFs(moved.image))['x']?.text, 'two');
  });

  test('an entry whose layer blob is gone misses (and the step made again keeps later steps cached); a damaged entry misses', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY a /a\nCOPY b /b\n', a: 'a', b: 'b' });
    const first = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    unlinkSync(join(home, 'blobs', 'sha256', first.image.layers[0]!.descriptor.digest.slice(7)));
    const second = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(second), [false, true], 'the same layer again: the next key is unchanged');
    assert.equal(second.image.descriptor.digest, first.image.descriptor.digest);
    for (const name of readdirSync(join(home, 'cache', 'steps'))) writeFileSync(join(home, 'cache', 'steps', name), '{"format":"kiln.cache.step.v1","layer":');
    assert.deepEqual(cachedFlags(await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 })), [false, false]);
  });

  test('.dockerignore\'d files are not part of the key', async () => {
    const { ctx, home } = fresh({ Dockerfile: 'FROM scratch\nCOPY . /src/\n', '.dockerignore': 'junk\n', a: 'a', junk: '1' });
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    writeFileSync(join(ctx, 'junk'), '2');
    assert.deepEqual(cachedFlags(await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 })), [true]);
    writeFileSync(join(ctx, 'a'), 'a2');
    assert.deepEqual(cachedFlags(await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 })), [false]);
  });
});

describe('--no-cache and --no-cache-filter', () => {
  const files = {
    Dockerfile: 'FROM scratch AS one\nCOPY a /a\n\nFROM scratch AS two\nCOPY b /b\n\nFROM scratch\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n',
    a: 'a',
    b: 'b',
  };

  test('--no-cache runs every step and still writes the cache', async () => {
    const { ctx, home } = fresh(files);
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    const forced = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, noCache: true });
    assert.deepEqual(cachedFlags(forced), [false, false, false, false]);
    assert.equal(forced.layers, 4);
    const other = fresh(files);
    const viaNoCache = await cacheBuild({ contextDir: other.ctx, home: other.home, epoch: EPOCH, now: T1, noCache: true });
    assert.deepEqual(cachedFlags(viaNoCache), [false, false, false, false]);
    assert.deepEqual(cachedFlags(await cacheBuild({ contextDir: other.ctx, home: other.home, epoch: EPOCH, now: T2 })), [true, true, true, true], 'entries were written');
  });

  test('--no-cache-filter runs the stages named (by name or index); a stage that makes the same layer again leaves its users cached', async () => {
    const { ctx, home } = fresh(files);
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    const r = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, noCacheFilter: ['ONE'] });
    assert.deepEqual(cachedFlags(r, 'one'), [false]);
    assert.deepEqual(cachedFlags(r, 'two'), [true]);
    assert.deepEqual(cachedFlags(r, 'stage-2'), [true, true]);
    const byIndex = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2, noCacheFilter: ['2'] });
    assert.deepEqual(cachedFlags(byIndex), [true, true, false, false]);
  });

  test('a changed stage misses in the stages that copy from it', async () => {
    const { ctx, home } = fresh(files);
    await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
    writeFileSync(join(ctx, 'b'), 'b2');
    const r = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
    assert.deepEqual(cachedFlags(r), [true, false, true, false]);
    assert.equal((await imageFs(r.image))['b']?.text, 'b2');
  });
});

describe('ADD of a URL', () => {
  test('without --checksum it is fetched on every build (never a hit), and what follows hits when the bytes are the same; with --checksum it hits without fetching', async () => {
    let body = 'remote-1';
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-length': Buffer.byteLength(body), 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`;
      const { ctx, home } = fresh({ Dockerfile: `FROM scratch\nADD ${url} /r\nCOPY a /a\n`, a: 'a' });
      await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
      const same = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
      assert.deepEqual(cachedFlags(same), [false, true]);
      assert.equal(fetches, 2);
      body = 'remote-2';
      const changed = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
      assert.deepEqual(cachedFlags(changed), [false, false]);
      assert.equal((await imageFs(changed.image))['r']?.text, 'remote-2');

      const sum = createHash('sha256').update(body).digest('hex');
      writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nADD --checksum=sha256:${sum} ${url} /r\nCOPY a /a\n`);
      await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T1 });
      const fetched = fetches;
      const pinned = await cacheBuild({ contextDir: ctx, home, epoch: EPOCH, now: T2 });
      assert.deepEqual(cachedFlags(pinned), [true, true]);
      assert.equal(fetches, fetched, 'no request');
    } finally {
      server.close();
    }
  });
});
