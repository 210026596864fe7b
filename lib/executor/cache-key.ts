import { createHash } from 'node:crypto';
import { type AddInstruction, type CopyInstruction, IgnoreMatcher, parseRunMount, type RunInstruction } from '../dockerfile/index.ts';
import { canonicalJson } from '../oci/index.ts';
import { type ContentRef, type LinkGroup, type Node, readContentSync, resolvePath } from '../vfs/index.ts';
import type { FileHashIndex } from './cache-file-hashes.ts';
import { type CopySource, resolveLocal, type SourceItem } from './copy-sources.ts';
import { sourceKind } from './copy-url.ts';
import { expansionEnv, type ExecOptions, runConfig, type StageState } from './stage-state.ts';
import type { SourceLocation } from '../errors.ts';

/**
 * Bumped whenever what a step produces for the same key changes (layer
 * bytes, history text, config): old entries then simply stop matching.
 */
export const KEY_VERSION = 1;

/** A cache key: sha256 of the canonical JSON of `parts`, as `sha256:<hex>`. */
export function cacheKey(parts: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(parts)).digest('hex')}`;
}

/**
 * The key of the state after a step. A filesystem step's result is named by
 * its key and the diffID of the layer it made, so a step that ran again (a
 * miss, `--no-cache`, an ADD of a URL) and made the same layer leaves the
 * following steps' keys unchanged, as BuildKit's content-based keys do; a
 * metadata step's result is a function of its key.
 */
export function chainKey(stepKey: string, diffId: string | undefined): string {
  return diffId === undefined ? stepKey : cacheKey({ step: stepKey, diffId });
}

/** The stage's variables and declared ARGs, sorted: part of every step's key. */
export function visibleVars(state: Pick<StageState, 'image' | 'args'>): { env: [string, string][]; args: [string, string | null][] } {
  const env = [...expansionEnv(state)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const args = [...state.args].map(([k, v]): [string, string | null] => [k, v ?? null]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { env, args };
}

/** Where the inputs of COPY, ADD and RUN mounts come from, as the key sees them. */
export interface KeyInputs {
  /** The build context, `.dockerignore` applied. */
  context(): CopySource;
  /** The identity of a `--from` (mount: the RUN mount's index): an earlier stage's key, an image's manifest digest. */
  fromIdentity(mount: number | undefined): Promise<string>;
  /** The content hashes of host files. */
  readonly hashes: FileHashIndex;
}

/** The key parts of a filesystem step, and whether it may be looked up at all (ADD of a URL without `--checksum` is always fetched). */
export interface FsKeyParts {
  readonly parts: unknown;
  readonly lookup: boolean;
  /**
   * For steps that can be redone on a filesystem without packing a layer
   * (COPY from the context, WORKDIR): a digest of everything the redone
   * filesystem depends on beyond the key — the sources' mtimes, which the
   * key leaves out. When it equals the cached entry's, redoing the step
   * (with that build's clock) gives the very tree the step made when it ran.
   */
  readonly exact?: string;
}

/**
 * What a COPY or ADD depends on beyond its parent: its words expanded, and
 * the content of what it copies. From the context, a digest of every
 * selected entry (as {@link resolveLocal} selects them: wildcards,
 * `--parents`, `--exclude`, `.dockerignore`) — path, type, mode, owner,
 * link target, hard-link structure, content sha256 — but not mtimes
 * (BuildKit's content hash leaves them out too, so a checkout that touches
 * every file still hits). From a stage or an image, that stage's key or the
 * image's manifest digest. Throws whatever the selection throws (the caller
 * then runs the step, which reports the error properly).
 */
export async function copyKeyParts(state: Pick<StageState, 'image' | 'args'>, ins: CopyInstruction | AddInstruction, opts: ExecOptions, inputs: KeyInputs, loc: SourceLocation): Promise<FsKeyParts> {
  const vars = expansionEnv(state);
  const x = (w: string) => opts.expander.word(w, vars);
  const sources = ins.sources.map(x);
  const words = {
    sources,
    dest: x(ins.dest),
    chown: ins.chown !== undefined ? x(ins.chown) : null,
    chmod: ins.chmod !== undefined ? x(ins.chmod) : null,
    checksum: ins.kind === 'ADD' && ins.checksum !== undefined ? x(ins.checksum) : null,
    workdir: runConfig(state).WorkingDir ?? '',
  };
  if (ins.kind === 'COPY' && ins.from !== undefined) return { parts: { words, from: await inputs.fromIdentity(undefined) }, lookup: true };
  const exclude = ins.exclude.length > 0 ? new IgnoreMatcher(ins.exclude) : undefined;
  const content: unknown[] = [];
  const exact = createHash('sha256');
  let lookup = true;
  for (const src of sources) {
    if (ins.kind === 'ADD' && sourceKind(src) !== 'local') {
      lookup &&= words.checksum !== null;
      content.push({ url: src });
      continue;
    }
    const items = resolveLocal(inputs.context(), src, { parents: ins.parents, exclude }, loc);
    content.push(items.map((item) => {
      const d = itemDigest(item, inputs.hashes);
      exact.update(`${d.exact}\n`);
      return d.content;
    }));
  }
  return { parts: { words, content }, lookup, ...(ins.kind === 'COPY' ? { exact: exact.digest('hex') } : {}) };
}

/**
 * What a RUN depends on beyond its parent and its variables: its mounts
 * expanded, with the content of bind mounts (the context subtree, or the
 * stage's key / image's digest). Cache mounts' contents and secrets' values
 * are never part of it (a secret's id is, as the mount spec is).
 */
export async function runKeyParts(state: Pick<StageState, 'image' | 'args'>, ins: RunInstruction, opts: ExecOptions, inputs: KeyInputs, loc: SourceLocation): Promise<FsKeyParts> {
  const vars = expansionEnv(state);
  const mounts: unknown[] = [];
  for (const [i, spec] of ins.mountSpecs.entries()) {
    const m = spec.mount ?? parseRunMount(spec.raw, (w) => opts.expander.word(w, vars), loc);
    if (m.type !== 'bind') {
      mounts.push(m);
      continue;
    }
    if (m.from !== undefined && m.from !== '') {
      mounts.push({ ...m, content: await inputs.fromIdentity(i) });
      continue;
    }
    const root = inputs.context().tree;
    const node = m.source === '' || m.source === '/' ? root : resolvePath(root, m.source, { followFinal: true }).node;
    mounts.push({ ...m, content: node === undefined ? null : itemDigest({ name: '', node }, inputs.hashes).content });
  }
  const cfg = runConfig(state);
  return { parts: { mounts, user: cfg.User ?? '', workdir: cfg.WorkingDir ?? '', shell: cfg.Shell ?? null }, lookup: true };
}

/**
 * Digests of one copied item: every entry below it in name order, each
 * with its kind, mode, owner, size and content sha256, link target or
 * device numbers, xattrs, and which entries are hard links of one another
 * (`content`, for the key); and the same with mtimes (`exact`).
 */
export function itemDigest(item: SourceItem, hashes: FileHashIndex): { content: string; exact: string } {
  const hash = createHash('sha256');
  const mtimes = createHash('sha256');
  const links = new Map<LinkGroup, number>();
  const visit = (path: string, node: Node): void => {
    const m = node.meta;
    const xattrs = m.xattrs === undefined ? null : Object.keys(m.xattrs).sort().map((k) => [k, m.xattrs![k]!.toString('base64')]);
    const link = node.kind !== 'dir' && node.link !== undefined ? linkIndex(links, node.link) : null;
    hash.update(`${JSON.stringify([path, node.kind, m.mode, m.uid, m.gid, xattrs, link, detail(node, hashes)])}\n`);
    mtimes.update(`${m.mtime}\n`);
    if (node.kind === 'dir') for (const name of [...node.children.keys()].sort()) visit(`${path}/${name}`, node.children.get(name)!);
  };
  visit(item.name, item.node);
  const content = hash.digest('hex');
  return { content, exact: createHash('sha256').update(content).update(mtimes.digest('hex')).digest('hex') };
}

function linkIndex(links: Map<LinkGroup, number>, group: LinkGroup): number {
  let n = links.get(group);
  if (n === undefined) links.set(group, (n = links.size));
  return n;
}

function detail(node: Node, hashes: FileHashIndex): unknown {
  switch (node.kind) {
    case 'file': return [node.size, contentHash(node.content, hashes)];
    case 'symlink': return node.target;
    case 'char':
    case 'block': return [node.major, node.minor];
    case 'fifo':
    case 'dir': return null;
  }
}

function contentHash(ref: ContentRef, hashes: FileHashIndex): string {
  if (ref.kind === 'host-file') return hashes.hash(ref.path);
  return createHash('sha256').update(readContentSync(ref)).digest('hex');
}
