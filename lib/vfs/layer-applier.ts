import type { Readable } from 'node:stream';
import type { ExpansionMeter, TarHeader } from '../archive/index.ts';
import { assertNever } from '../errors.ts';
import { VfsError } from './errors.ts';
import { type ApplyLimits, checkLinkTarget, checkPath, preview } from './limits.ts';
import { type DirNode, type FileNode, type LeafNode, LinkGroup, type Meta, type Node, sameMeta } from './node.ts';
import type { SpillFile } from './spill.ts';
import { TreeDraft } from './tree-draft.ts';
import { resolvePath } from './tree.ts';
import { OPAQUE, WHITEOUT } from './whiteout.ts';

/** Names with this prefix are AUFS metadata (`.wh..wh.plnk`, …), never files of the image. */
const META_PREFIX = '.wh..wh.';
const EMPTY = Buffer.alloc(0);

export interface ApplierOptions {
  /**
   * `layer`: an OCI layer (image-spec layer.md): `.wh.` names are whiteouts,
   * `..` and absolute names are cleaned inside the root (containerd).
   * `untar`: a plain archive (ADD): `.wh.` names are files, and a name that
   * climbs above the root is PATH_OUTSIDE_ROOT (Docker's Untar breakout check).
   */
  mode: 'layer' | 'untar';
  /** Metadata of directories that entries imply without listing them. */
  impliedDir: Meta;
  limits: ApplyLimits;
  /** Counts file contents against the limits; names the layer or archive in every limit error. */
  meter: ExpansionMeter;
  /** Where regular files' bytes go; file nodes become ranges of it. */
  spill: SpillFile;
}

/**
 * Applies tar entries one by one to a tree, as containerd's applier does to
 * a directory (archive.applyNaive with fs.RootPath):
 *
 * - Parent directories are resolved through the tree's symlinks, confined
 *   to the root (absolute targets against the root, `..` stops at `/`); the
 *   last component is never followed, so an entry replaces a symlink rather
 *   than writing through it. Missing parents are created with `impliedDir`.
 * - An entry replaces what is at its path, except that a directory entry
 *   over a directory merges (new metadata, children kept). Last one wins.
 * - A whiteout removes, and an opaque marker empties, only what lower layers
 *   put there: entries of this layer survive it wherever it sits in the tar
 *   (directories kept only for this layer's entries take `impliedDir`, as if
 *   the whiteout had come first).
 * - A hardlink (target relative to the root, confined like a name) joins its
 *   target's inode: both get one {@link LinkGroup}. Its header's owner, mode,
 *   mtime and xattrs apply to the inode, as containerd's lchown/chmod/chtimes
 *   on the link path do.
 * - The root entry is ignored: the image's root is not the layer's to change.
 */
export class LayerApplier {
  readonly #draft: TreeDraft;
  readonly #o: ApplierOptions;
  /** Real paths (components joined by `/`) of this layer's entries. */
  readonly #unpacked = new Set<string>();
  /** Real paths of directories with entries of this layer below them. */
  readonly #below = new Set<string>();
  /** Raw parent path → real path; cleared whenever a directory or symlink is replaced or removed. */
  readonly #parents = new Map<string, string[]>();
  #entries = 0;

  /** `layer sha256:…` or `archive /path`: where limit errors say the entry is. */
  readonly #where: string;

  constructor(base: DirNode, opts: ApplierOptions) {
    this.#draft = new TreeDraft(base);
    this.#o = opts;
    this.#where = opts.meter.describe();
  }

  /** Whether the real path `key` (`a/b`) was an entry of the input (not an implied parent). */
  isEntry(key: string): boolean {
    return this.#unpacked.has(key);
  }

  /** Applies one entry; reads `body` to its end for regular files. */
  async apply(h: TarHeader, body: Readable): Promise<void> {
    if (++this.#entries > this.#o.limits.maxEntries) {
      throw new VfsError('LAYER_TOO_MANY_ENTRIES', `${this.#where} has more than ${this.#o.limits.maxEntries} entries`, { limit: this.#o.limits.maxEntries });
    }
    const comps = this.#clean(h.name);
    if (comps.length === 0) return;
    const name = comps[comps.length - 1]!;
    const rawParent = comps.slice(0, -1);
    if (this.#o.mode === 'layer') {
      if (comps[0]!.startsWith(META_PREFIX) && !(comps.length === 1 && name === OPAQUE)) return;
      if (name.startsWith(WHITEOUT)) return this.#whiteout(rawParent, name, h.name);
    }
    const parent = this.#parent(rawParent, h.name);
    checkPath([...parent, name], h.name, this.#o.limits, this.#where);
    const meta = metaOf(h);
    switch (h.type) {
      case 'directory':
        return this.#placeDir(parent, name, meta);
      case 'file':
        return this.#place(parent, name, await this.#file(h, body, meta));
      case 'hardlink':
        return this.#place(parent, name, this.#hardlink(h, meta));
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target === '' || target.includes('\0')) throw new VfsError('SYMLINK_INVALID', `symlink ${preview(h.name)} has an invalid target`, { path: h.name });
        checkLinkTarget(target, h.name, this.#o.limits, this.#where);
        return this.#place(parent, name, { kind: 'symlink', meta, target });
      }
      case 'fifo':
        return this.#place(parent, name, { kind: 'fifo', meta });
      case 'character-device':
      case 'block-device':
        return this.#place(parent, name, { kind: h.type === 'character-device' ? 'char' : 'block', meta, major: h.devmajor ?? 0, minor: h.devminor ?? 0 });
      default:
        return assertNever(h.type, 'tar entry type');
    }
  }

  /** The tree with every entry applied. The applier must not be used afterwards. */
  finish(): DirNode {
    return this.#draft.finish();
  }

  /** The components of an entry name: `.` and empty ones dropped, `..` resolved lexically (see `mode`). */
  #clean(name: string): string[] {
    const out: string[] = [];
    for (const part of name.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length > 0) out.pop();
        else if (this.#o.mode === 'untar') throw new VfsError('PATH_OUTSIDE_ROOT', `archive entry ${preview(name)} climbs out of the destination`, { path: name });
        continue;
      }
      if (part.includes('\0')) throw new VfsError('NAME_INVALID', `entry ${preview(name)} contains a NUL byte`, { path: name });
      out.push(part);
    }
    checkPath(out, name, this.#o.limits, this.#where);
    return out;
  }

  /** The real path of the directory `raw` (symlinks resolved inside the root), created when missing. */
  #parent(raw: readonly string[], entry: string): string[] {
    const key = raw.join('/');
    const hit = this.#parents.get(key);
    if (hit !== undefined) return hit;
    const r = resolvePath(this.#draft.root, `/${key}`, { followFinal: true });
    if (r.node !== undefined && r.node.kind !== 'dir') {
      throw new VfsError('NOT_A_DIRECTORY', `cannot apply ${preview(entry)}: /${r.path.join('/')} is not a directory`, { path: entry });
    }
    // Symlinks can make a real path deeper or longer than the name: the limits hold for both.
    checkPath(r.path, entry, this.#o.limits, this.#where);
    if (r.node === undefined) this.#draft.dirAt(r.path, this.#o.impliedDir);
    this.#parents.set(key, r.path);
    return r.path;
  }

  #place(parent: readonly string[], name: string, node: LeafNode): void {
    const kids = this.#draft.children(this.#draft.dirAt(parent));
    const existing = kids.get(name);
    if (existing !== undefined && existing.kind !== 'file') this.#parents.clear();
    kids.set(name, node);
    this.#mark(parent, name);
  }

  #placeDir(parent: readonly string[], name: string, meta: Meta): void {
    const kids = this.#draft.children(this.#draft.dirAt(parent));
    const existing = kids.get(name);
    if (existing?.kind === 'dir') {
      kids.set(name, this.#draft.own(existing, meta));
    } else {
      if (existing !== undefined) this.#parents.clear();
      kids.set(name, this.#draft.newDir(meta));
    }
    this.#mark(parent, name);
  }

  #mark(parent: readonly string[], name: string): void {
    const parentKey = parent.join('/');
    this.#unpacked.add(parentKey === '' ? name : `${parentKey}/${name}`);
    for (let i = parent.length; i > 0; i--) {
      const k = i === parent.length ? parentKey : parent.slice(0, i).join('/');
      if (this.#below.has(k)) break;
      this.#below.add(k);
    }
  }

  async #file(h: TarHeader, body: Readable, meta: Meta): Promise<FileNode> {
    const meter = this.#o.meter;
    meter.reserveContent(h.size);
    const spill = this.#o.spill;
    const offset = spill.size;
    // Flowing mode: measured faster than `for await` over many small bodies.
    const n = await new Promise<number>((resolve, reject) => {
      let got = 0;
      body.on('data', (chunk: Buffer) => {
        got += chunk.length;
        try {
          meter.addContent(chunk.length);
        } catch (err) {
          body.destroy(err as Error);
          return;
        }
        if (got <= h.size) spill.append(chunk);
      });
      body.once('end', () => resolve(got));
      body.once('error', reject);
    });
    if (n !== h.size) throw new VfsError('LAYER_INVALID', `entry ${preview(h.name)} has ${n} bytes of content, its header says ${h.size}`, { path: h.name });
    const content = n === 0 ? ({ kind: 'bytes', data: EMPTY } as const) : ({ kind: 'file-range', path: spill.path, offset, size: n } as const);
    return { kind: 'file', meta, size: n, content };
  }

  /**
   * The node for a hardlink: its target's, in a link group (made now when
   * the target had none, the target's node being replaced to join it).
   */
  #hardlink(h: TarHeader, meta: Meta): LeafNode {
    const comps = this.#clean(h.linkname ?? '');
    const fail = (why: string): never => {
      throw new VfsError('HARDLINK_INVALID', `hardlink ${preview(h.name)} -> ${preview(h.linkname ?? '')}: ${why}`, { path: h.name });
    };
    if (comps.length === 0) fail('the root is not a file');
    const base = comps[comps.length - 1]!;
    const dir = resolvePath(this.#draft.root, `/${comps.slice(0, -1).join('/')}`, { followFinal: true });
    const target = dir.node?.kind === 'dir' ? dir.node.children.get(base) : undefined;
    if (target === undefined) return fail('no such file in this layer or below');
    if (target.kind === 'dir') return fail('the target is a directory');
    const inode = linkMeta(target.meta, meta);
    if (target.link !== undefined && sameMeta(inode, target.meta)) return target;
    const joined = { ...target, meta: inode, link: target.link ?? new LinkGroup() } as LeafNode;
    this.#draft.children(this.#draft.dirAt(dir.path)).set(base, joined);
    if (target.link !== undefined) this.#retag(target.link, joined);
    return joined;
  }

  /** Gives every node of `group` the metadata of `inode` (a hardlink's header changed the shared inode). */
  #retag(group: LinkGroup, inode: LeafNode): void {
    const found: string[][] = [];
    const visit = (dir: DirNode, path: string[]): void => {
      for (const [name, child] of dir.children) {
        if (child.kind === 'dir') visit(child, [...path, name]);
        else if (child.link === group && child !== inode) found.push([...path, name]);
      }
    };
    visit(this.#draft.root, []);
    for (const p of found) this.#draft.children(this.#draft.dirAt(p.slice(0, -1))).set(p[p.length - 1]!, inode);
  }

  #whiteout(rawParent: readonly string[], name: string, entry: string): void {
    if (name === OPAQUE) return this.#opaque(rawParent, entry);
    // As containerd, a whiteout's parent directory is created like any entry's.
    const parent = this.#parent(rawParent, entry);
    if (name.startsWith(META_PREFIX)) return;
    const victim = name.slice(WHITEOUT.length);
    if (victim === '' || victim === '.' || victim === '..') throw new VfsError('WHITEOUT_INVALID', `invalid whiteout ${preview(entry)}`, { path: entry });
    const dir = this.#draft.dirAt(parent);
    const existing = dir.children.get(victim);
    if (existing === undefined) return;
    const parentKey = parent.join('/');
    this.#replace(dir, victim, existing, this.#prune(existing, parentKey === '' ? victim : `${parentKey}/${victim}`));
  }

  #opaque(rawParent: readonly string[], entry: string): void {
    const parent = this.#parent(rawParent, entry);
    const dir = this.#draft.dirAt(parent);
    const key = parent.join('/');
    for (const [name, child] of [...dir.children]) this.#replace(dir, name, child, this.#prune(child, key === '' ? name : `${key}/${name}`));
  }

  #replace(dir: DirNode, name: string, old: Node, kept: Node | undefined): void {
    if (kept === old) return;
    const kids = this.#draft.children(dir);
    if (kept === undefined) kids.delete(name);
    else kids.set(name, kept);
    this.#parents.clear();
  }

  /** What a whiteout leaves of `node`: this layer's entries (and directories holding them), nothing from below. */
  #prune(node: Node, key: string): Node | undefined {
    const entry = this.#unpacked.has(key);
    if (!entry && !this.#below.has(key)) return undefined;
    if (node.kind !== 'dir') return entry ? node : undefined;
    const own = this.#draft.own(node, entry ? node.meta : this.#o.impliedDir);
    for (const [name, child] of [...own.children]) this.#replace(own, name, child, this.#prune(child, `${key}/${name}`));
    return own;
  }
}

function metaOf(h: TarHeader): Meta {
  const meta: Meta = { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
  if (h.xattrs === undefined || Object.keys(h.xattrs).length === 0) return meta;
  // Copies: the reader's values may be views into a large input buffer.
  const xattrs: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h.xattrs)) xattrs[k] = Buffer.from(v);
  return { ...meta, xattrs };
}

/** The inode's metadata after a hardlink entry: the link's owner, mode and mtime; its xattrs added to the target's. */
function linkMeta(target: Meta, link: Meta): Meta {
  const xattrs = { ...(target.xattrs ?? {}), ...(link.xattrs ?? {}) };
  const base: Meta = { mode: link.mode, uid: link.uid, gid: link.gid, mtime: link.mtime };
  return Object.keys(xattrs).length > 0 ? { ...base, xattrs } : base;
}
