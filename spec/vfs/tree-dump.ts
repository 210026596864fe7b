/**
 * Test kit: a canonical, line-per-path description of a tree, and layer
 * helpers. Two trees are "equal" when their dumps are: same paths, kinds,
 * metadata, content bytes (sha256 of what the reference reads), link
 * targets, device numbers, and the same hard-link grouping (each path of a
 * group of two or more names the group's first path). The root is left out:
 * layers never carry it.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { readTar, type TarHeader } from '../../lib/archive/index.ts';
import { type DirNode, type LinkGroup, readContentSync, walk } from '../../lib/vfs/index.ts';

export function dumpTree(root: DirNode): string[] {
  const members = new Map<LinkGroup, string[]>();
  walk(root, (path, node) => {
    if (node.kind !== 'dir' && node.link !== undefined) members.set(node.link, [...(members.get(node.link) ?? []), path.join('/')]);
  });
  const lines: string[] = [];
  walk(root, (path, node) => {
    const m = node.meta;
    const xattrs = Object.keys(m.xattrs ?? {})
      .sort()
      .map((k) => `${k}=${m.xattrs![k]!.toString('hex')}`)
      .join(',');
    let detail = '';
    switch (node.kind) {
      case 'file': {
        const data = readContentSync(node.content);
        detail = `${node.size} ${data.length} ${createHash('sha256').update(data).digest('hex').slice(0, 16)}`;
        break;
      }
      case 'symlink':
        detail = `-> ${node.target}`;
        break;
      case 'char':
      case 'block':
        detail = `${node.major},${node.minor}`;
        break;
      default:
        break;
    }
    const group = node.kind !== 'dir' && node.link !== undefined ? members.get(node.link)! : [];
    const link = group.length > 1 ? ` link=${group[0]}` : '';
    lines.push(`${path.join('/')} ${node.kind} ${m.mode.toString(8)} ${m.uid}:${m.gid} ${Math.floor(m.mtime)} [${xattrs}] ${detail}${link}`);
  });
  return lines;
}

export async function collectBytes(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

/** The headers of a tar (uncompressed) in order, read with kiln's reader. */
export async function tarHeaders(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  await readTar(Readable.from([tar]), async (h) => {
    out.push(h);
  });
  return out;
}

/** A deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
