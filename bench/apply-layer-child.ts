/**
 * One contender of the apply-layer bench, as a process of its own so that
 * GNU time's peak RSS is kiln's alone (the bench process holds the
 * generator's bookkeeping and earlier sections' garbage).
 *
 *   node --import tsx bench/apply-layer-child.ts MODE SPILL_PARENT OUT LAYER.tar...
 *
 * MODE:
 * - `noop`: load lib/vfs and lib/archive and stop (the start-up floor);
 * - `apply`: applyLayer of every LAYER in order, onto emptyDir();
 * - `rediff`: apply, then diff(emptyDir(), tree) and changesToLayer(…,
 *   { compression: 'none' }) written to /dev/null, its diffID computed;
 * - `stats`: apply, then list the tree (for the bench's correctness check).
 *
 * The spill directory is created below SPILL_PARENT and left there for the
 * bench to remove untimed, as it removes tar's extraction folder. OUT gets a
 * JSON object: `ms`, the time from the first layer's open to the end of the
 * work (module loading excluded), and what the mode computed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { type DirNode, SpillDir, applyLayer, changesToLayer, diff, emptyDir, walk } from '../lib/vfs/index.ts';

type Mode = 'noop' | 'apply' | 'rediff' | 'stats';

async function applyAll(spillParent: string, layers: readonly string[]): Promise<DirNode> {
  const spill = SpillDir.create(spillParent);
  let tree = emptyDir();
  for (const layer of layers) tree = await applyLayer(tree, createReadStream(layer, { highWaterMark: 1 << 20 }), { spill });
  return tree;
}

/** The re-diffed layer, uncompressed, to /dev/null: the work of turning a whole image back into one layer. */
async function rediff(tree: DirNode): Promise<Record<string, unknown>> {
  const changes = diff(emptyDir(), tree);
  const { stream, uncompressed } = changesToLayer(tree, changes, { compression: 'none', level: 0 });
  await pipeline(stream, createWriteStream('/dev/null'));
  const { diffId, size } = await uncompressed;
  return { changes: changes.length, diffId, tarBytes: size };
}

/**
 * The tree as sorted `path\tkind detail` lines and their sha256, the same
 * listing the bench derives from the layer folders by itself: regular files
 * with their size, symlinks with their target, directories.
 */
function stats(tree: DirNode): Record<string, unknown> {
  const lines: string[] = [];
  let files = 0;
  let bytes = 0;
  walk(tree, (path, node) => {
    const p = path.join('/');
    if (node.kind === 'file') {
      files++;
      bytes += node.size;
      lines.push(`${p}\tfile ${node.size}`);
    } else if (node.kind === 'symlink') lines.push(`${p}\tsymlink ${node.target}`);
    else lines.push(`${p}\t${node.kind}`);
  });
  lines.sort();
  return { entries: lines.length, files, bytes, listing: createHash('sha256').update(lines.join('\n')).digest('hex') };
}

async function main(argv: readonly string[]): Promise<void> {
  const [mode, spillParent, out, ...layers] = argv as [Mode, string, string, ...string[]];
  if (!['noop', 'apply', 'rediff', 'stats'].includes(mode) || out === undefined) throw new Error('usage: apply-layer-child.ts noop|apply|rediff|stats SPILL_PARENT OUT LAYER...');
  const t0 = performance.now();
  let result: Record<string, unknown> = {};
  if (mode !== 'noop') {
    const tree = await applyAll(spillParent, layers);
    if (mode === 'rediff') result = await rediff(tree);
    if (mode === 'stats') result = stats(tree);
  }
  writeFileSync(out, JSON.stringify({ ms: performance.now() - t0, ...result }));
}

await main(process.argv.slice(2));
