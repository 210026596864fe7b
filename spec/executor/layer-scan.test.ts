/**
 * COPY --from=<image> reads an image's layers from the top down, only as far
 * as the copied paths need (issue 6). Checked two ways: hand-made stacks
 * where the answer is known, and random stacks (files, directories,
 * symlinks, whiteouts, opaque markers, parents listed or not) where the
 * paths in the partial filesystem must equal those in the whole one, as
 * built by applying every layer (tars written by Python's tarfile).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sha256 } from '../../lib/digest/index.ts';
import { BaseImages } from '../../lib/executor/base-image.ts';
import { indexLayer, lowestNeededLayer, sourcePaths } from '../../lib/executor/layer-scan.ts';
import { type Image, type Layer, layerFrom } from '../../lib/image/index.ts';
import { MediaType } from '../../lib/oci/index.ts';
import { type DirNode, type Node, resolvePath, SpillDir } from '../../lib/vfs/index.ts';
import { describeTree } from '../vfs/apply-kit.ts';
import { type PyEntry, pyTars } from '../vfs/py-tar.ts';
import { prng } from '../vfs/tree-dump.ts';

const home = mkdtempSync(join(tmpdir(), 'kiln-layerscan-'));
const spill = SpillDir.create(home);
after(() => {
  spill.dispose();
  rmSync(home, { recursive: true, force: true });
});

/** Layers over tar bytes that count how often each is opened. */
function layers(tars: readonly Buffer[]): { layers: Layer[]; opened: number[] } {
  const opened = tars.map(() => 0);
  const out = tars.map((bytes, i) => {
    const digest = sha256(bytes);
    return layerFrom({
      descriptor: { mediaType: MediaType.OciLayer, digest, size: bytes.length },
      diffId: digest,
      open: async () => {
        opened[i]!++;
        return Readable.from([bytes]);
      },
    });
  });
  return { layers: out, opened };
}

function image(ls: readonly Layer[], name: string): Image {
  return { descriptor: { mediaType: MediaType.OciManifest, digest: sha256(Buffer.from(name)), size: 1 }, layers: ls } as unknown as Image;
}

const noResolver = { resolve: () => Promise.reject(new Error('not used')) };

const d = (name: string): PyEntry => ({ name, type: 'dir' });
const f = (name: string, text: string): PyEntry => ({ name, text });

test('a file in the top layer needs the top layer only; the lower layers are never opened', async () => {
  const tars = pyTars([[d('etc'), f('etc/base', 'base')], [d('usr'), f('usr/x', 'x')], [d('etc'), d('etc/nginx'), f('etc/nginx/nginx.conf', 'top')]]);
  const { layers: ls, opened } = layers(tars);
  assert.equal(await lowestNeededLayer(ls, ['etc/nginx/nginx.conf'], indexLayer), 2);
  assert.deepEqual(opened, [0, 0, 1]);
  const bases = new BaseImages(noResolver, spill);
  const tree = await bases.treeFor(image(ls, 'a'), ['etc/nginx/nginx.conf']);
  assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('etc/nginx/')), ['etc/nginx/nginx.conf: file 0644 0:0 "top"']);
  assert.equal(opened[0], 0, 'the bottom layer was never opened');
});

test('a path decided lower down needs the layers down to it; a symlink adds its target', async () => {
  const tars = pyTars([
    [d('etc'), f('etc/real', 'real')],
    [d('usr'), f('usr/x', 'x')],
    [d('etc'), { name: 'etc/link', type: 'symlink', linkname: 'real' }],
  ]);
  const { layers: ls } = layers(tars);
  assert.equal(await lowestNeededLayer(ls, ['usr/x'], indexLayer), 1);
  assert.equal(await lowestNeededLayer(ls, ['etc/link'], indexLayer), 0, 'the link target lives in the bottom layer');
  assert.equal(await lowestNeededLayer(ls, ['etc/link', 'usr/x'], indexLayer), 0);
});

test('whiteouts and opaque parents decide a path as absent; directories need every layer unless opaque', async () => {
  const tars = pyTars([
    [d('a'), f('a/f', 'old'), d('b'), f('b/g', 'g')],
    [d('c'), f('c/h', 'h')],
    [d('a'), f('a/.wh.f', ''), d('b'), f('b/.wh..wh..opq', '')],
  ]);
  const { layers: ls } = layers(tars);
  assert.equal(await lowestNeededLayer(ls, ['a/f'], indexLayer), 2);
  assert.equal(await lowestNeededLayer(ls, ['b/g'], indexLayer), 2);
  assert.equal(await lowestNeededLayer(ls, ['b'], indexLayer), 2, 'an opaque directory listed in its layer is whole there');
  assert.equal(await lowestNeededLayer(ls, ['a'], indexLayer), 0);
  assert.equal(await lowestNeededLayer(ls, [''], indexLayer), 0);
});

test('a parent the layer does not list, or lists after the entry, sends the lookup to every layer', async () => {
  const tars = pyTars([[d('etc'), f('etc/x', 'bottom')], [f('etc/x', 'top, no parent entry')], [f('etc/y', 'y'), d('etc')]]);
  const { layers: ls } = layers(tars);
  assert.equal(await lowestNeededLayer(ls, ['etc/x'], indexLayer), 0);
  assert.equal(await lowestNeededLayer(ls, ['etc/y'], indexLayer), 0);
});

test('sourcePaths: each source up to its first wildcard; .. means the root', () => {
  assert.deepEqual(sourcePaths(['/etc/nginx/nginx.conf', 'app/*.go', '/a/./b/c', '/x/../y', '/', 'd/[ab]/e', 'f\\*g']), ['etc/nginx/nginx.conf', 'app', 'a/b/c', '', '', 'd', '']);
});

/** The node at `path` of `tree` after following symlinks, described with its subtree, or the error code. */
function at(tree: DirNode, path: string): string[] {
  let node: Node | undefined;
  try {
    node = resolvePath(tree, path, { followFinal: true }).node;
  } catch (err) {
    return [`error ${(err as { code?: string }).code}`];
  }
  if (node === undefined) return ['absent'];
  if (node.kind !== 'dir') return describeTree({ kind: 'dir', meta: node.meta, children: new Map([['n', node]]) } as DirNode);
  return ['dir', ...describeTree(node)];
}

const NAMES = ['a', 'a/b', 'a/b/f', 'a/g', 'c', 'c/h', 'c/i', 'e'];

function randomLayer(rand: () => number, serial: () => number): PyEntry[] {
  const out: PyEntry[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ops = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < ops; i++) {
    const path = pick(NAMES);
    const parts = path.split('/');
    const parents = parts.slice(0, -1).map((_, j) => parts.slice(0, j + 1).join('/'));
    const listParents = rand();
    if (listParents < 0.75) for (const p of parents) out.push(d(p));
    const r = rand();
    const dir = parents.at(-1);
    const name = parts.at(-1)!;
    if (r < 0.35) out.push(f(path, `v${serial()}`));
    else if (r < 0.55) out.push({ name: path, type: 'dir', mode: 0o700 + Math.floor(rand() * 0o77) });
    else if (r < 0.7) out.push({ name: path, type: 'symlink', linkname: rand() < 0.5 ? `/${pick(NAMES)}` : `../${pick(NAMES)}` });
    else if (r < 0.85) out.push(f(dir === undefined ? `.wh.${name}` : `${dir}/.wh.${name}`, ''));
    else out.push(f(`${path}/.wh..wh..opq`, ''));
    if (listParents > 0.9) for (const p of parents) out.push(d(p));
  }
  // tarfile keeps duplicates: the applier's last-one-wins applies, as it would in a real layer
  return out;
}

test('random layer stacks: every path of the partial filesystem equals the whole one', async () => {
  const rand = prng(Number(process.env.LAYER_SCAN_SEED ?? 20261127));
  let n = 0;
  const serial = (): number => ++n;
  const stacks = Array.from({ length: Number(process.env.LAYER_SCAN_STACKS ?? 120) }, () => Array.from({ length: 2 + Math.floor(rand() * 4) }, () => randomLayer(rand, serial)));
  const tars = pyTars(stacks.flat());
  let offset = 0;
  let compared = 0;
  let partial = 0;
  for (const [s, stack] of stacks.entries()) {
    const { layers: ls } = layers(tars.slice(offset, offset + stack.length));
    offset += stack.length;
    const whole = new BaseImages(noResolver, spill);
    let full: DirNode;
    try {
      full = await whole.tree(image(ls, `whole ${s}`));
    } catch {
      continue; // a stack the applier refuses (e.g. a file under a file) says nothing here
    }
    for (const path of NAMES) {
      const k = await lowestNeededLayer(ls, [path], indexLayer);
      if (k > 0) partial++;
      const tree = await new BaseImages(noResolver, spill).treeFor(image(ls, `part ${s} ${path}`), [path]);
      assert.deepEqual(at(tree, path), at(full, path), `stack ${s}, path ${path}, from layer ${k}: ${JSON.stringify(stack)}`);
      compared++;
    }
  }
  assert.ok(compared > 600, `compared ${compared}`);
  assert.ok(partial > 100, `only ${partial} lookups stopped above the bottom layer`);
});
