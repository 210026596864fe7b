import type { Layer } from '../image/index.ts';
import { indexTar, type LayerIndex } from '../vfs/index.ts';

export type { LayerIndex } from '../vfs/index.ts';

/** Reads the headers of `layer` (it is fetched if need be; bodies are skipped). */
export async function indexLayer(layer: Layer): Promise<LayerIndex> {
  return indexTar(await layer.openUncompressed());
}

/** How the layers scanned so far decide a path. */
type Verdict = { kind: 'decided'; also: string[] } | { kind: 'open' } | { kind: 'all' };

const MAX_LINKS = 16;

/**
 * The lowest layer (index into `layers`, bottom = 0) that `paths` need:
 * applying only the layers from it to the top gives each path (and, for a
 * directory, everything below it) exactly as applying every layer would.
 * Layers are read top-down, only until each path is decided, so the layers
 * below the answer are never opened:
 *
 * - every layer read must list each entry's parent directories before it
 *   (see {@link LayerIndex.unplaced}), else the answer is 0;
 * - the topmost layer that names a path as a file, symlink or device
 *   decides it; a symlink adds its target to the paths needed;
 * - a whiteout of the path or a parent, an opaque parent, or a parent that
 *   is a file decides it as absent;
 * - a directory is decided only by an opaque marker in the layer that lists
 *   it (else lower layers can add to it); a hardlink, a parent that is a
 *   symlink, or more than 16 links lead to 0 (every layer).
 *
 * `paths` are slash-separated, relative to the root, without `.`/`..`
 * components; `''` is the root (which always needs every layer).
 */
export async function lowestNeededLayer(layers: readonly Layer[], paths: readonly string[], index: (layer: Layer) => Promise<LayerIndex>): Promise<number> {
  const scanned: LayerIndex[] = []; // scanned[0] is the top layer
  const pending = new Set(paths);
  const done = new Set<string>();
  let links = 0;
  for (let i = layers.length - 1; i >= 0; i--) {
    const idx = await index(layers[i]!);
    if (idx.unplaced) return 0;
    scanned.push(idx);
    for (const path of [...pending]) {
      const v = verdict(path, scanned);
      if (v.kind === 'all') return 0;
      if (v.kind === 'open') continue;
      pending.delete(path);
      done.add(path);
      for (const more of v.also) {
        if (done.has(more) || pending.has(more)) continue;
        if (++links > MAX_LINKS) return 0;
        // A new path may be decided by a layer already scanned: look again from the top.
        const again = verdict(more, scanned);
        if (again.kind === 'all') return 0;
        if (again.kind === 'open') pending.add(more);
        else {
          done.add(more);
          for (const m of again.also) if (!done.has(m)) pending.add(m);
        }
      }
    }
    if (pending.size === 0) return i;
  }
  return 0;
}

/** The verdict of the layers in `scanned` (top first, none of them unplaced) on `path`. */
function verdict(path: string, scanned: readonly LayerIndex[]): Verdict {
  if (path === '') return { kind: 'all' };
  const parts = path.split('/');
  const ancestors = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
  const settled: Verdict = { kind: 'decided', also: [] };
  for (const idx of scanned) {
    // A parent this layer makes a file or symlink (after listing it as a directory, if it did) hides the path.
    for (const a of ancestors) {
      const e = idx.entries.get(a);
      if (e !== undefined && e.type === 'symlink') return { kind: 'all' };
      if (e !== undefined && e.type !== 'directory') return settled;
    }
    const own = idx.entries.get(path);
    if (own !== undefined) {
      switch (own.type) {
        case 'directory':
          return idx.opaque.has(path) ? settled : { kind: 'all' };
        case 'symlink':
          return { kind: 'decided', also: [linkTarget(parts.slice(0, -1), own.linkname ?? '')] };
        case 'hardlink':
          // Joins its target as it was when this layer was applied, which the layers above need not show.
          return { kind: 'all' };
        default:
          return settled;
      }
    }
    if (idx.whiteouts.has(path)) return settled;
    if (ancestors.some((a) => idx.whiteouts.has(a) || idx.opaque.has(a)) || idx.opaque.has('')) return settled;
  }
  return { kind: 'open' };
}

/** A link target as a root-relative path (`..` stops at the root, as inside a chroot). */
function linkTarget(dir: readonly string[], target: string): string {
  const out = target.startsWith('/') ? [] : [...dir];
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out.join('/');
}

/**
 * The paths COPY sources read, for {@link lowestNeededLayer}: each source
 * up to its first component with a wildcard (that directory is read
 * whole); `''` (the root: every layer) for a source with `..`.
 */
export function sourcePaths(sources: readonly string[]): string[] {
  return sources.map((src) => {
    const parts = src.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) return '';
    const wild = parts.findIndex((p) => /[*?[\\]/.test(p));
    return (wild === -1 ? parts : parts.slice(0, wild)).join('/');
  });
}
