import { type Compression, packLayer, type TarWriteEntry } from '../archive/index.ts';
import type { Change } from './diff.ts';
import type { DirNode, LinkGroup, Meta, Node } from './node.ts';
import { comparePaths } from './path.ts';
import { openContent } from './read-content.ts';
import { getNode } from './tree.ts';
import { OPAQUE, WHITEOUT } from './whiteout.ts';


/**
 * Turns a diff into the tar entries of an OCI layer (image-spec layer.md):
 * puts become entries, deletes become `.wh.<name>` whiteouts, opaque
 * directories `.wh..wh..opq`. Like containerd's differ, every changed path's
 * parent directories are included with their metadata from `upper`, so a
 * runtime extracting the layer recreates them with the right owner and mode.
 *
 * Puts of nodes that share a {@link LinkGroup} become one entry with the
 * content (the first of their paths in tar order) and hardlink entries to
 * it; {@link diff} includes every path of a changed group, so the group is
 * whole in the layer.
 */
export function changesToEntries(upper: DirNode, changes: readonly Change[]): TarWriteEntry[] {
  const leaders = linkLeaders(changes);
  const out = new Map<string, TarWriteEntry>();
  // A parent already present has its own parents present too: walk up only to the first one.
  const addParents = (path: string): void => {
    const missing: string[] = [];
    for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
      const p = path.slice(0, slash);
      if (out.has(p)) break;
      missing.push(p);
    }
    for (let i = missing.length - 1; i >= 0; i--) {
      const p = missing[i]!;
      const node = getNode(upper, p.split('/'));
      if (node?.kind === 'dir') out.set(p, entryFor(p, node));
    }
  };
  for (const c of changes) {
    addParents(c.path);
    switch (c.op) {
      case 'put': {
        const leader = c.node.kind === 'dir' ? undefined : c.node.link && leaders.get(c.node.link);
        out.set(c.path, leader !== undefined && leader !== c.path ? hardlinkEntry(c.path, c.node, leader) : entryFor(c.path, c.node));
        break;
      }
      case 'delete':
      case 'opaque': {
        const slash = c.path.lastIndexOf('/');
        const dir = slash < 0 ? '' : c.path.slice(0, slash + 1);
        const name = c.op === 'delete' ? `${dir}${WHITEOUT}${c.path.slice(slash + 1)}` : c.path === '' ? OPAQUE : `${c.path}/${OPAQUE}`;
        out.set(name, whiteoutEntry(name, parentMeta(upper, c.op === 'delete' ? dir : c.path)));
        break;
      }
    }
  }
  return [...out.values()];
}

/** For each link group among the puts, its first path in tar order. */
function linkLeaders(changes: readonly Change[]): Map<LinkGroup, string> {
  const leaders = new Map<LinkGroup, string>();
  for (const c of changes) {
    if (c.op !== 'put' || c.node.kind === 'dir' || c.node.link === undefined) continue;
    const seen = leaders.get(c.node.link);
    if (seen === undefined || comparePaths(c.path, seen) < 0) leaders.set(c.node.link, c.path);
  }
  return leaders;
}

function hardlinkEntry(name: string, node: Node, leader: string): TarWriteEntry {
  const { body: _body, xattrs: _xattrs, devmajor: _major, devminor: _minor, linkname: _link, ...meta } = entryFor(name, node);
  return { ...meta, type: 'hardlink', linkname: leader, size: 0 };
}

function parentMeta(upper: DirNode, dir: string): Meta {
  const node = getNode(upper, dir.split('/').filter((x) => x !== ''));
  return node?.meta ?? upper.meta;
}

function whiteoutEntry(name: string, meta: Meta): TarWriteEntry {
  return { name, type: 'file', mode: 0, uid: 0, gid: 0, mtime: Math.floor(meta.mtime), size: 0, body: () => Buffer.alloc(0) };
}

/** The tar entry for one node. */
export function entryFor(name: string, node: Node): TarWriteEntry {
  // One literal of one shape, no spreads: spread-built entries measured 2.5x
  // larger in the heap (538 against 218 bytes), and a layer has one per path.
  const m = node.meta;
  const e: TarWriteEntry = { name, type: 'directory', mode: m.mode, uid: m.uid, gid: m.gid, mtime: Math.floor(m.mtime), size: 0 };
  switch (node.kind) {
    case 'dir':
      break;
    case 'file':
      e.type = 'file';
      e.size = node.size;
      e.body = () => openContent(node.content, node.size);
      break;
    case 'symlink':
      e.type = 'symlink';
      e.linkname = node.target;
      break;
    case 'char':
    case 'block':
      e.type = node.kind === 'char' ? 'character-device' : 'block-device';
      e.devmajor = node.major;
      e.devminor = node.minor;
      break;
    case 'fifo':
      e.type = 'fifo';
      break;
  }
  if (m.xattrs !== undefined && Object.keys(m.xattrs).length > 0) e.xattrs = { ...m.xattrs };
  return e;
}

/**
 * The layer blob for a diff, in one pass: tar entries (sorted, canonical) →
 * sha256 of the tar (the diffID) → compression. The caller consumes `stream`
 * (into a content store); `uncompressed` resolves once it has been read.
 */
export function changesToLayer(
  upper: DirNode,
  changes: readonly Change[],
  opts: { compression: Compression; level: number; mtimeClamp?: number },
): ReturnType<typeof packLayer> {
  return packLayer(changesToEntries(upper, changes), opts);
}
