/**
 * Property: for random trees A and B (B a random edit of A), applying the
 * layer made from diff(A, B) to A gives B, by the canonical dump of
 * tree-dump.ts (paths, kinds, metadata, content bytes, link targets, device
 * numbers, hard-link groups). A itself is first built by applying its own
 * layer to an empty tree, so both sides read content from spill files.
 * Each layer is also checked against the rules of image-spec layer.md: no
 * whiteout for a path that did not exist below, no path both whited out
 * and written, hardlinks pointing to an earlier entry of the same layer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { applyLayer, changesToLayer, diff, type DirNode, emptyDir, getNode, resolvePath, SpillDir } from '../../lib/vfs/index.ts';
import { TreeRandom } from './random-tree.ts';
import { collectBytes, dumpTree, prng, tarHeaders } from './tree-dump.ts';

const CASES = Number(process.env.KILN_ROUND_TRIP_CASES ?? 1000);

async function layerOf(lower: DirNode, upper: DirNode, gzip: boolean): Promise<Buffer> {
  const { stream } = changesToLayer(upper, diff(lower, upper), { compression: gzip ? 'gzip' : 'none', level: 1 });
  return collectBytes(stream);
}

/** The layer.md rules, read back from the tar itself. */
async function checkLayerRules(blob: Buffer, gzip: boolean, lower: DirNode): Promise<void> {
  const headers = await tarHeaders(gzip ? gunzipSync(blob) : blob);
  const names = new Set(headers.map((h) => h.name));
  const seen = new Set<string>();
  for (const h of headers) {
    const slash = h.name.lastIndexOf('/');
    const base = h.name.slice(slash + 1);
    const dir = slash < 0 ? '' : h.name.slice(0, slash);
    if (base.startsWith('.wh.') && base !== '.wh..wh..opq') {
      const victim = dir === '' ? base.slice(4) : `${dir}/${base.slice(4)}`;
      assert.ok(getNode(lower, victim.split('/')) !== undefined, `whiteout ${h.name} for a path that was not below`);
      assert.ok(!names.has(victim), `${victim} is both whited out and written`);
    }
    if (base === '.wh..wh..opq') assert.equal(resolvePath(lower, `/${dir}`, { followFinal: false }).node?.kind, 'dir', `opaque ${h.name} in a directory that was not below`);
    if (h.type === 'hardlink') assert.ok(seen.has(h.linkname!), `hardlink ${h.name} -> ${h.linkname} before its target`);
    seen.add(h.name);
  }
}

describe('apply(A, layer(diff(A, B))) equals B', () => {
  test(`${CASES} random pairs`, async () => {
    const spill = SpillDir.create();
    let opaques = 0;
    let links = 0;
    try {
      for (let seed = 1; seed <= CASES; seed++) {
        const r = new TreeRandom(prng(seed));
        const gzip = seed % 3 === 0;
        const a0 = r.tree();
        const a = await applyLayer(emptyDir(), Readable.from([await layerOf(emptyDir(), a0, gzip)]), { spill });
        assert.deepEqual(dumpTree(a), dumpTree(a0), `seed ${seed}: A from its own layer`);
        const b = r.edit(a);
        const changes = diff(a, b);
        opaques += changes.filter((c) => c.op === 'opaque').length;
        links += changes.filter((c) => c.op === 'put' && c.node.kind !== 'dir' && c.node.link !== undefined).length;
        const blob = await layerOf(a, b, gzip);
        await checkLayerRules(blob, gzip, a);
        const applied = await applyLayer(a, Readable.from([blob]), { spill });
        assert.deepEqual(dumpTree(applied), dumpTree(b), `seed ${seed}`);
      }
    } finally {
      spill.dispose();
    }
    // The generator must reach the interesting cases, or the property proves little.
    assert.ok(opaques > 20, `only ${opaques} opaque directories`);
    assert.ok(links > 100, `only ${links} hard-linked puts`);
  });
});
