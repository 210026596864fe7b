/** Test kit for applyLayer: apply Python-made tars and describe the result compactly. */
import { Readable } from 'node:stream';
import { applyLayer, type ApplyLimits, type DirNode, emptyDir, readContentSync, type SpillDir, walk } from '../../lib/vfs/index.ts';
import { pyTar, type PyEntry } from './py-tar.ts';

/** `path: kind mode uid:gid [mtime] "text" | -> target | maj,min [link=first]`, one per node, in tar order. */
export function describeTree(root: DirNode, opts: { mtime?: boolean } = {}): string[] {
  const first = new Map<object, string>();
  const count = new Map<object, number>();
  walk(root, (p, n) => {
    if (n.kind === 'dir' || n.link === undefined) return;
    if (!first.has(n.link)) first.set(n.link, p.join('/'));
    count.set(n.link, (count.get(n.link) ?? 0) + 1);
  });
  const out: string[] = [];
  walk(root, (p, n) => {
    const mode = n.meta.mode.toString(8).padStart(4, '0');
    const time = opts.mtime ? ` @${n.meta.mtime}` : '';
    const tail = n.kind === 'file' ? ` ${JSON.stringify(readContentSync(n.content).toString('utf8'))}` : n.kind === 'symlink' ? ` -> ${n.target}` : n.kind === 'char' || n.kind === 'block' ? ` ${n.major},${n.minor}` : '';
    const link = n.kind !== 'dir' && n.link !== undefined && (count.get(n.link) ?? 0) > 1 ? ` link=${first.get(n.link)}` : '';
    out.push(`${p.join('/')}: ${n.kind} ${mode} ${n.meta.uid}:${n.meta.gid}${time}${tail}${link}`);
  });
  return out;
}

/** Applies a Python-made layer (or raw bytes) to `tree`. */
export async function applyPy(spill: SpillDir, tree: DirNode, layer: readonly PyEntry[] | Buffer, limits?: Partial<ApplyLimits>): Promise<DirNode> {
  const bytes = Buffer.isBuffer(layer) ? layer : pyTar(layer);
  return applyLayer(tree, Readable.from([bytes]), { spill, ...(limits ? { limits } : {}) });
}

/** Applies layers in order to an empty tree. */
export async function applyAll(spill: SpillDir, ...layers: (readonly PyEntry[])[]): Promise<DirNode> {
  let tree = emptyDir();
  for (const l of layers) tree = await applyPy(spill, tree, l);
  return tree;
}

/** The error code a promise rejects with ('none' when it resolves). */
export async function codeOfAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
}
