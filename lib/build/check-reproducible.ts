/**
 * `kiln build --check-reproducible`: the same build twice, in fresh
 * temporary stores and with no cache, under conditions that must not matter
 * — another umask, time zone and locale, the context copied to another path
 * with every mtime moved — then every digest compared, and the first
 * difference named (a config field, a layer, a file and what about it).
 */
import { cpSync, lstatSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { readTar, type TarHeader } from '../archive/index.ts';
import { Sha256 } from '../digest/index.ts';
import type { Image, Layer } from '../image/index.ts';

/** What the check found. `difference` is undefined when both builds gave the same manifest. */
export interface ReproducibilityReport {
  /** The two manifest digests (first build, second build). */
  digests: [string, string];
  difference: string | undefined;
}

/** The build options the check varies (a subset of BuildOptions, to keep this module free of build.ts). */
export interface CheckedBuild {
  contextDir: string;
  dockerfile?: string;
  home: string;
  epoch?: number;
  noCache?: boolean;
  baseStores?: readonly string[];
  tags?: readonly string[];
  outputs?: readonly unknown[];
}

/** Seconds the second checkout's mtimes are moved by. */
const MTIME_SHIFT = 86_400 * 400 + 12_345;

/**
 * Builds twice with `run` and compares. The epoch is the one given, else 0
 * (without one, timestamps differ by design). Base images come from the
 * caller's store (read-only) or its registry; nothing is written to the
 * caller's store.
 */
export async function checkReproducible<T extends CheckedBuild>(opts: T, run: (o: T) => Promise<{ image: Image }>): Promise<ReproducibilityReport> {
  const scratch = mkdtempSync(join(tmpdir(), 'kiln-repro-'));
  const saved = { umask: process.umask(), tz: process.env.TZ, lang: process.env.LANG, lcAll: process.env.LC_ALL };
  try {
    const contextDir = resolve(opts.contextDir);
    const other = join(scratch, 'another', 'checkout', basename(contextDir));
    cpSync(contextDir, other, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    shiftMtimes(other, MTIME_SHIFT);
    const dockerfile = opts.dockerfile === undefined ? undefined : resolve(opts.dockerfile);
    const inContext = dockerfile !== undefined && !relative(contextDir, dockerfile).startsWith('..');
    const common = { epoch: opts.epoch ?? 0, noCache: true, baseStores: [opts.home, ...(opts.baseStores ?? [])], tags: [], outputs: [] };
    process.umask(0o022);
    setEnv({ TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: undefined });
    const first = await run({ ...opts, ...common, home: join(scratch, 'store-1') } as T);
    process.umask(0o077);
    setEnv({ TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' });
    const second = await run({
      ...opts,
      ...common,
      contextDir: other,
      ...(dockerfile !== undefined ? { dockerfile: inContext ? join(other, relative(contextDir, dockerfile)) : dockerfile } : {}),
      home: join(scratch, 'store-2'),
    } as T);
    const digests: [string, string] = [first.image.descriptor.digest, second.image.descriptor.digest];
    return { digests, difference: digests[0] === digests[1] ? undefined : await firstDifference(first.image, second.image) };
  } finally {
    process.umask(saved.umask);
    setEnv({ TZ: saved.tz, LANG: saved.lang, LC_ALL: saved.lcAll });
    rmSync(scratch, { recursive: true, force: true });
  }
}

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

function shiftMtimes(dir: string, by: number): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) shiftMtimes(p, by);
    if (!st.isSymbolicLink()) utimesSync(p, st.atimeMs / 1000 + by, st.mtimeMs / 1000 + by);
  }
  const st = lstatSync(dir);
  utimesSync(dir, st.atimeMs / 1000 + by, st.mtimeMs / 1000 + by);
}

/** The first thing that differs between two images: config fields, then layers in order, file by file. */
export async function firstDifference(a: Image, b: Image): Promise<string> {
  const config = jsonDifference(a.config, b.config, 'config');
  const history = a.config.history ?? [];
  const stepOf = (i: number): string => {
    const made = history.filter((h) => h.empty_layer !== true)[i]?.created_by;
    return made === undefined ? '' : ` (${made.replace(/ # buildkit$/, '')})`;
  };
  for (let i = 0; i < Math.max(a.layers.length, b.layers.length); i++) {
    const la = a.layers[i];
    const lb = b.layers[i];
    if (la === undefined || lb === undefined) return `the builds have ${a.layers.length} and ${b.layers.length} layers`;
    if (la.diffId === lb.diffId) {
      if (la.descriptor.digest !== lb.descriptor.digest) return `layer ${i + 1}${stepOf(i)}: the same tar compressed to different bytes (${la.descriptor.digest} vs ${lb.descriptor.digest})`;
      continue;
    }
    return `layer ${i + 1}${stepOf(i)}: ${await tarDifference(la, lb)}`;
  }
  return config ?? `the manifests differ (${a.descriptor.digest} vs ${b.descriptor.digest})`;
}

function jsonDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = jsonDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== undefined) return d;
    }
  }
  if (path === 'config.rootfs.diff_ids' || path === 'config.rootfs') return undefined; // told through the layers
  return `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

interface EntrySummary {
  header: Omit<TarHeader, 'xattrs' | 'name'> & { xattrs?: Record<string, string> };
  content: string | undefined;
}

async function entries(layer: Layer): Promise<Map<string, EntrySummary>> {
  const out = new Map<string, EntrySummary>();
  await readTar(await layer.openUncompressed(), async (h, body) => {
    let content: string | undefined;
    if (h.type === 'file') {
      const hash = new Sha256();
      for await (const chunk of body) hash.update(chunk as Buffer);
      content = hash.digest();
    }
    const { name, xattrs, ...rest } = h;
    const x = xattrs && Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, v.toString('base64')]));
    out.set(name, { header: x ? { ...rest, xattrs: x } : rest, content });
  });
  return out;
}

async function tarDifference(a: Layer, b: Layer): Promise<string> {
  const [ea, eb] = await Promise.all([entries(a), entries(b)]);
  const names = [...new Set([...ea.keys(), ...eb.keys()])];
  for (const name of names) {
    const x = ea.get(name);
    const y = eb.get(name);
    if (x === undefined) return `/${name} is only in the second build`;
    if (y === undefined) return `/${name} is only in the first build`;
    if (x.content !== y.content) return `/${name}: content ${x.content} vs ${y.content}`;
    for (const key of [...new Set([...Object.keys(x.header), ...Object.keys(y.header)])].sort()) {
      const va = JSON.stringify((x.header as Record<string, unknown>)[key]);
      const vb = JSON.stringify((y.header as Record<string, unknown>)[key]);
      if (va !== vb) return `/${name}: ${key} ${va} vs ${vb}`;
    }
  }
  return 'the tars hold the same files in a different order or framing';
}
