/**
 * Same inputs, same digest: the context copied to another path, every file
 * touched, another umask, TZ and locale — with SOURCE_DATE_EPOCH the
 * manifest digest must not change; without it, the touched mtimes must show.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
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
