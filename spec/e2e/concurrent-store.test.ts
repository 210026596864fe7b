/**
 * Several kiln processes writing one local store at once (issue 9):
 * index.json is changed under a cross-process lock, so no tag is lost,
 * and every build's image is complete.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/kiln.ts';
import { kiln } from './registry-kit.ts';

const tmp = tempDir('kiln-concurrent-');
after(() => tmp.cleanup());

test('eight builds sharing a layer, into one store at once: every tag is listed, each image is the one a lone build makes and reads back whole', async () => {
  const home = join(tmp.dir, 'home');
  const runs = Array.from({ length: 8 }, (_, i) => {
    const ctx = join(tmp.dir, `ctx-${i}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'n.txt'), `build ${i}\n`);
    writeFileSync(join(ctx, 'shared.txt'), 'the same in every build\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY shared.txt /\nCOPY n.txt /\n');
    return kiln(['build', '-q', '-t', `img:${i}`, ctx], { KILN_HOME: home, SOURCE_DATE_EPOCH: '0' });
  });
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.status, 0, r.stderr);
  const names = (JSON.parse(readFileSync(join(home, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] }).manifests
    .map((m) => m.annotations?.['org.opencontainers.image.ref.name'])
    .sort();
  assert.deepEqual(names, Array.from({ length: 8 }, (_, i) => `docker.io/library/img:${i}`).sort());
  // each image is the one a build alone in a fresh store makes
  for (let i = 0; i < 8; i++) {
    const alone = await kiln(['build', '-q', join(tmp.dir, `ctx-${i}`)], { KILN_HOME: join(tmp.dir, `alone-${i}`), SOURCE_DATE_EPOCH: '0' });
    assert.equal(alone.stdout, results[i]!.stdout, `build ${i}: same image ID`);
  }
  for (let i = 0; i < 8; i++) {
    const out = join(tmp.dir, `out-${i}`);
    const r = await kiln(['cp', `img:${i}:/n.txt`, out], { KILN_HOME: home });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), `build ${i}\n`);
  }
});
