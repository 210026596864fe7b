/**
 * Test kit for the executor: builds a Dockerfile over a temp context with
 * the real `build()` and reads the result back independently (layer tars
 * through Python's tarfile, see layer-dump.py; config as stored).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from '../../lib/build.ts';
import type { Image } from '../../lib/image/index.ts';
import type { HistoryEntry, RunConfig } from '../../lib/oci/index.ts';

const DUMP = join(dirname(fileURLToPath(import.meta.url)), 'layer-dump.py');

/** A context entry: text content, or a spec. Parent directories are created 0755. */
export type Entry = string | { text?: string; mode?: number; mtime?: number; symlink?: string; dir?: true };

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname?: string;
  text?: string;
}

export interface Built {
  image: Image;
  config: RunConfig;
  history: HistoryEntry[];
  /** Entries of each layer, in tar order. */
  layers: TarEntry[][];
  /** The root filesystem after applying every layer (OCI whiteout rules). */
  fs: Record<string, TarEntry>;
}

/** Mtime given to context entries that do not set one. */
export const CTX_MTIME = 1_650_000_000;
/** SOURCE_DATE_EPOCH of every build here, unless a test passes another `epoch`. */
export const EPOCH = 1_700_000_000;

/** Writes a context directory; returns its path. */
export function writeContext(root: string, files: Record<string, Entry>): string {
  mkdirSync(root, { recursive: true });
  for (const [path, spec] of Object.entries(files)) {
    const abs = join(root, path);
    mkdirSync(dirname(abs), { recursive: true });
    const s = typeof spec === 'string' ? { text: spec } : spec;
    if (s.symlink !== undefined) {
      symlinkSync(s.symlink, abs);
      continue;
    }
    if (s.dir) mkdirSync(abs, { recursive: true });
    else writeFileSync(abs, s.text ?? '');
    chmodSync(abs, s.mode ?? (s.dir ? 0o755 : 0o644));
  }
  // mtimes last, deepest first, so writing children does not move a directory's mtime
  for (const path of Object.keys(files).sort((a, b) => b.split('/').length - a.split('/').length)) {
    const s = files[path]!;
    if (typeof s !== 'string' && s.symlink !== undefined) continue;
    const mtime = typeof s === 'string' ? CTX_MTIME : (s.mtime ?? CTX_MTIME);
    utimesSync(join(root, path), mtime, mtime);
  }
  return root;
}

/** Every layer of `image` as Python's tarfile reads it (layer-dump.py), and the filesystem they make; `tmp` holds the layer tars. */
export async function dumpLayers(image: Pick<Image, 'layers'>, tmp: string): Promise<{ layers: TarEntry[][]; fs: Record<string, TarEntry> }> {
  const files: string[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const f = join(tmp, `layer-${i}.tar`);
    await pipeline(await layer.openUncompressed(), createWriteStream(f));
    files.push(f);
  }
  const r = spawnSync('python3', [DUMP, ...files], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`layer-dump.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { layers: TarEntry[][]; fs: Record<string, TarEntry> };
}

/**
 * Builds `dockerfile` over a context of `files` (SOURCE_DATE_EPOCH = EPOCH
 * unless `opts.epoch` says otherwise; `null` builds without one).
 * `prepare` may add to the context directory before the build (archives…).
 */
export async function buildIt(
  files: Record<string, Entry>,
  dockerfile: string,
  opts: Partial<Omit<BuildOptions, 'epoch'>> & { epoch?: number | null; prepare?: (ctx: string) => void } = {},
): Promise<Built> {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-exec-'));
  try {
    const ctx = writeContext(join(tmp, 'ctx'), { ...files, Dockerfile: dockerfile });
    const { epoch, prepare, ...rest } = opts;
    prepare?.(ctx);
    const result = await build({
      contextDir: ctx,
      home: join(tmp, 'home'),
      now: new Date('2024-05-06T07:08:09Z'),
      ...(epoch === null ? {} : { epoch: epoch ?? EPOCH }),
      ...rest,
    });
    const { layers, fs } = await dumpLayers(result.image, tmp);
    return { image: result.image, config: result.image.config.config ?? {}, history: result.image.config.history ?? [], layers, fs };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The code of the error a build fails with ('none' when it succeeds). */
export async function buildError(files: Record<string, Entry>, dockerfile: string, opts: Parameters<typeof buildIt>[2] = {}): Promise<{ code: string; line?: number; message: string }> {
  try {
    await buildIt(files, dockerfile, opts);
    return { code: 'none', message: '' };
  } catch (e) {
    const err = e as { code?: string; location?: { line: number }; message: string };
    return { code: err.code ?? 'uncoded', message: err.message, ...(err.location ? { line: err.location.line } : {}) };
  }
}

/** `fs` reduced to `path: type mode uid:gid [-> link | "text"]` lines, for compact assertions. */
export function describeFs(fs: Record<string, TarEntry>, under = ''): string[] {
  return Object.keys(fs)
    .filter((p) => under === '' || p === under || p.startsWith(`${under}/`))
    .sort()
    .map((p) => {
      const e = fs[p]!;
      const tail = e.type === 'symlink' ? ` -> ${e.linkname}` : e.type === 'file' ? ` ${JSON.stringify(e.text)}` : '';
      return `${p}: ${e.type} ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid}${tail}`;
    });
}
