import type { TarWriteEntry } from './tar-entry.ts';
import { normalizeTarPath } from './tar-path.ts';

/** An entry with its normalized path, already sorted into write order. */
export interface OrderedEntry {
  entry: TarWriteEntry;
  path: string;
}

/**
 * Makes every hardlink whose target is in the same archive point to an
 * entry written before it (OCI layer.md; GNU tar cannot extract a link to a
 * later member). In each group of names for one inode, the first name in
 * write order carries the content and the others become hardlinks to it.
 * Hardlinks share their inode's metadata, so the extracted tree is the same;
 * every link of a group is written with its inode's metadata.
 * Links whose target is not in the archive (a lower layer's file) stay as
 * they are. Returns the entries in the same order.
 */
export function orderHardlinks<T extends OrderedEntry>(sorted: readonly T[]): T[] {
  const byPath = new Map<string, number>();
  sorted.forEach((p, i) => byPath.set(p.path, i));
  const groups = new Map<number, number[]>(); // root index → link indices
  sorted.forEach((p, i) => {
    if (p.entry.type !== 'hardlink') return;
    const root = resolveRoot(sorted, byPath, i);
    if (root === undefined) return;
    const links = groups.get(root) ?? [];
    links.push(i);
    groups.set(root, links);
  });
  const out = [...sorted];
  for (const [root, links] of groups) {
    const leader = Math.min(root, ...links);
    const rootEntry = sorted[root]!.entry;
    const leaderPath = sorted[leader]!.path;
    for (const i of [root, ...links]) {
      const p = sorted[i]!;
      if (i === leader) {
        out[i] = { ...p, entry: { ...rootEntry, name: p.entry.name } };
      } else {
        const { body: _body, xattrs: _xattrs, devmajor: _major, devminor: _minor, ...meta } = rootEntry;
        out[i] = { ...p, entry: { ...meta, name: p.entry.name, type: 'hardlink', linkname: leaderPath, size: 0 } };
      }
    }
  }
  return out;
}

/** The non-hardlink entry a hardlink finally names, if it is in the archive. */
function resolveRoot(sorted: readonly OrderedEntry[], byPath: ReadonlyMap<string, number>, start: number): number | undefined {
  let i = start;
  const seen = new Set<number>();
  for (;;) {
    const e = sorted[i]!.entry;
    if (e.type !== 'hardlink') return e.type === 'directory' ? undefined : i;
    if (seen.has(i)) return undefined;
    seen.add(i);
    const next = byPath.get(normalizeTarPath(e.linkname ?? ''));
    if (next === undefined) return undefined;
    i = next;
  }
}
