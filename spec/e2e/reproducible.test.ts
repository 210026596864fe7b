/**
 * Same inputs, same digest: the context copied to another path, every file
 * touched, another umask, TZ and locale — with SOURCE_DATE_EPOCH the
 * manifest digest must not change; without it, the touched mtimes must show.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyContext, runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir();
after(() => tmp.cleanup());

function touchAll(dir: string, when: Date): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) touchAll(p, when);
    utimesSync(p, when, when);
  }
}

/** Builds into an OCI layout and returns the manifest digest, recomputed from the blob's bytes. */
function buildDigest(ctx: string, out: string, env: NodeJS.ProcessEnv, umask: string): string {
  const r = runKiln(['build', '-t', 'repro:1', '-o', `type=oci,dest=${out},tar=false`, ctx], { env: { KILN_HOME: `${out}-home`, ...env }, umask });
  assert.equal(r.status, 0, r.stderr);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  const digest = index.manifests[0].digest as string;
  const bytes = readFileSync(join(out, 'blobs', 'sha256', digest.slice(7)));
  assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
  return digest;
}

test('SOURCE_DATE_EPOCH=0 gives the same manifest digest from another path, after touch, under another umask and TZ', () => {
  const a = copyContext('scratch-app', join(tmp.dir, 'a', 'ctx'));
  const b = copyContext('scratch-app', join(tmp.dir, 'elsewhere', 'deeper', 'checkout'));
  touchAll(b, new Date());
  const base = { SOURCE_DATE_EPOCH: '0' };
  const first = buildDigest(a, join(tmp.dir, 'out-a'), { ...base, TZ: 'UTC', LANG: 'C' }, '022');
  const second = buildDigest(b, join(tmp.dir, 'out-b'), { ...base, TZ: 'Asia/Kolkata', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' }, '077');
  assert.equal(second, first);
});

test('without SOURCE_DATE_EPOCH the touched mtimes change the digest (the epoch is what makes the builds equal)', () => {
  const a = copyContext('scratch-app', join(tmp.dir, 'n-a'));
  const b = copyContext('scratch-app', join(tmp.dir, 'n-b'));
  touchAll(a, new Date('2020-01-01T00:00:00Z'));
  touchAll(b, new Date('2021-01-01T00:00:00Z'));
  const first = buildDigest(a, join(tmp.dir, 'n-out-a'), {}, '022');
  const second = buildDigest(b, join(tmp.dir, 'n-out-b'), {}, '022');
  assert.notEqual(second, first);
});

/** Every tar entry of a gzip layer, as Python's tarfile reads it: [name, type, mode, uid, gid, size, linkname, sha256, mtime]. */
function tarEntries(blob: string): string[][] {
  const py = `import hashlib, sys, tarfile, json
out = []
with tarfile.open(sys.argv[1], 'r:*') as t:
    for m in t:
        data = t.extractfile(m).read() if m.isfile() else b''
        out.append([m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, m.size, m.linkname, hashlib.sha256(data).hexdigest(), m.mtime])
print(json.dumps(out))`;
  const r = spawnSync('python3', ['-c', py, blob], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[][];
}

/** The config and every layer's entries of an OCI layout's image. */
function layoutFacts(out: string): { config: Record<string, unknown>; layers: string[][][] } {
  const blob = (d: string): string => join(out, 'blobs', 'sha256', d.slice(7));
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  return { config: JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')), layers: manifest.layers.map((l) => tarEntries(blob(l.digest))) };
}

test('without an epoch, two builds of one context differ only in timestamps (config created, history created, new files\' mtimes)', async () => {
  const ctx = copyContext('scratch-app', join(tmp.dir, 't-ctx'));
  writeFileSync(join(ctx, 'Dockerfile'), `${readFileSync(join(ctx, 'Dockerfile'), 'utf8')}WORKDIR /made/here\nLABEL a=b\n`);
  const outA = join(tmp.dir, 't-out-a');
  const outB = join(tmp.dir, 't-out-b');
  buildDigest(ctx, outA, {}, '022');
  await new Promise((r) => setTimeout(r, 1100));
  buildDigest(ctx, outB, {}, '077');
  const a = layoutFacts(outA);
  const b = layoutFacts(outB);
  // rootfs.diff_ids name the layers, compared below entry by entry
  const noTimes = (c: Record<string, unknown>): unknown => JSON.parse(JSON.stringify(c, (k, v) => (k === 'created' || k === 'rootfs' ? undefined : v)));
  assert.deepEqual(noTimes(b.config), noTimes(a.config), 'the configs differ only in created times (and the layers\' diffIDs)');
  assert.notEqual(a.config.created, b.config.created, 'the builds were a second apart');
  const noMtime = (layers: string[][][]) => layers.map((l) => l.map((e) => e.slice(0, 8)));
  assert.deepEqual(noMtime(b.layers), noMtime(a.layers), 'the layers differ only in mtimes');
  assert.notDeepEqual(b.layers, a.layers, 'WORKDIR made its directories at build time');
});
