import type { Readable } from 'node:stream';
import { readTar, type TarEntryType } from '../archive/index.ts';
import { OPAQUE, WHITEOUT } from './whiteout.ts';

/** What one layer's headers say about its paths (no file contents are kept). */
export interface LayerIndex {
  /** Entries by path (`a/b`), last one wins as when applied; `order` is the entry's position in the tar. */
  readonly entries: ReadonlyMap<string, { readonly type: TarEntryType; readonly linkname: string | undefined; readonly order: number }>;
  /** Paths a `.wh.<name>` whiteout hides in lower layers. */
  readonly whiteouts: ReadonlySet<string>;
  /** Directories whose lower contents an opaque marker (`.wh..wh..opq`) hides. */
  readonly opaque: ReadonlySet<string>;
  /**
   * Whether some entry's place may depend on lower layers: a name with `..`,
   * or an entry (whiteouts included) whose parent directories the layer does
   * not list, as directories, before it — a lower symlink could redirect it
   * anywhere, so nothing can be decided from this layer down.
   */
  readonly unplaced: boolean;
}


/**
 * Reads the headers of a layer tar (uncompressed; bodies are skipped) into
 * a {@link LayerIndex}. Owns `tar` as readTar does.
 */
export async function indexTar(tar: Readable): Promise<LayerIndex> {
  const entries = new Map<string, { type: TarEntryType; linkname: string | undefined; order: number }>();
  const whiteouts = new Set<string>();
  const opaque = new Set<string>();
  const dirs = new Set<string>(); // paths the layer has listed as directories so far (and not replaced since)
  let unplaced = false;
  let order = 0;
  await readTar(tar, async (h) => {
    const parts = h.name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) unplaced = true;
    const name = parts.pop();
    if (name === undefined) return;
    for (let i = 1; i <= parts.length && !unplaced; i++) if (!dirs.has(parts.slice(0, i).join('/'))) unplaced = true;
    const parent = parts.join('/');
    const at = (n: string): string => (parent === '' ? n : `${parent}/${n}`);
    if (name === OPAQUE) opaque.add(parent);
    else if (name.startsWith(WHITEOUT)) whiteouts.add(at(name.slice(WHITEOUT.length)));
    else {
      const path = at(name);
      entries.set(path, { type: h.type, linkname: h.linkname, order: order++ });
      if (h.type === 'directory') dirs.add(path);
      else dirs.delete(path);
    }
  });
  return { entries, whiteouts, opaque, unplaced };
}

