/**
 * applyLayer and the limits, beyond apply-layer.test.ts's table: a GNU
 * sparse file (made by GNU tar --sparse) whose holes expand past the ratio,
 * a large incompressible first file that must not count in the ratio before
 * its bytes are read, limit errors naming the layer, and the default depth
 * (1024 levels) surviving every tree walk that recurses per level.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer, changesToEntries, diff, emptyDir, materialize, SpillDir } from '../../lib/vfs/index.ts';
import { tempDir } from '../helpers/kiln.ts';
import { pyTar } from './py-tar.ts';

const MiB = 1 << 20;
const tmp = tempDir('kiln-layer-limits-');
after(() => tmp.cleanup());

describe('applyLayer: limits, continued', () => {
  test('a sparse file of 64 MiB of holes in a 10 kB tar: LAYER_RATIO_EXCEEDED while it expands, and the spill file is deleted', async () => {
    const dir = join(tmp.dir, 'sparse');
    mkdirSync(dir);
    writeFileSync(join(dir, 'holes'), 'start');
    truncateSync(join(dir, 'holes'), 64 * MiB);
    const tar = execFileSync('tar', ['--sparse', '--format=pax', '-cf', '-', '-C', dir, 'holes'], { maxBuffer: 8 * MiB });
    assert.ok(tar.length < 64 * 1024, `GNU tar wrote ${tar.length} bytes`);
    const spill = SpillDir.create(tmp.dir);
    try {
      const got = applyLayer(emptyDir(), Readable.from([tar]), { spill, limits: { maxRatio: 100, ratioGrace: MiB }, name: 'sha256:sparse' });
      await assert.rejects(got, { code: 'LAYER_RATIO_EXCEEDED', message: /^layer sha256:sparse expands more than 100:1/ });
      assert.deepEqual(readdirSync(spill.path), []);
      // Without the ratio check the file is whole.
      const tree = await applyLayer(emptyDir(), Readable.from([tar]), { spill, limits: { maxRatio: 0 } });
      const node = tree.children.get('holes');
      assert.equal(node?.kind === 'file' ? node.size : -1, 64 * MiB);
    } finally {
      spill.dispose();
    }
  });

  test('a large incompressible first file does not count in the ratio before its bytes are read', async () => {
    const dir = join(tmp.dir, 'noise');
    mkdirSync(dir);
    writeFileSync(join(dir, 'noise'), randomBytes(4 * MiB));
    const layer = execFileSync('tar', ['-czf', '-', '-C', dir, 'noise'], { maxBuffer: 8 * MiB });
    const spill = SpillDir.create(tmp.dir);
    try {
      const tree = await applyLayer(emptyDir(), Readable.from([layer]), { spill, limits: { maxRatio: 2, ratioGrace: MiB } });
      assert.ok(tree.children.has('noise'));
    } finally {
      spill.dispose();
    }
  });

  test('path limit errors name the layer and the entry, cut short', async () => {
    const spill = SpillDir.create(tmp.dir);
    try {
      const name = `${'x/'.repeat(70)}end`; // 143 characters: the message keeps the first 60 and the last 40
      const deep = pyTar([{ name, text: '' }]);
      await assert.rejects(applyLayer(emptyDir(), Readable.from([deep]), { spill, limits: { maxDepth: 8 }, name: 'sha256:deep' }), {
        code: 'PATH_TOO_DEEP',
        message: `layer sha256:deep: entry "${name.slice(0, 60)}…${name.slice(-40)}" is 71 levels deep (limit 8, set by KILN_MAX_PATH_DEPTH)`,
      });
    } finally {
      spill.dispose();
    }
  });

  test('1024 levels, the default limit, go through apply, diff, changesToEntries and materialize', async () => {
    const name = `${'d/'.repeat(1023)}f`;
    const spill = SpillDir.create(tmp.dir);
    try {
      const tree = await applyLayer(emptyDir(), Readable.from([pyTar([{ name, text: 'deep' }])]), { spill });
      const changes = diff(emptyDir(), tree);
      assert.equal(changes.length, 1024);
      assert.equal(changesToEntries(tree, changes).at(-1)?.name, name);
      const out = join(tmp.dir, 'out');
      await materialize(tree, out);
      assert.equal(statSync(join(out, name)).size, 4);
      await assert.rejects(applyLayer(emptyDir(), Readable.from([pyTar([{ name: `d/${name}`, text: '' }])]), { spill }), { code: 'PATH_TOO_DEEP' });
    } finally {
      spill.dispose();
    }
  });
});
