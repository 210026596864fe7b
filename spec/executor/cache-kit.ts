/**
 * Test kit for the build cache: runs the real `build()` and records what
 * its events say (which steps were CACHED, how many layers were packed,
 * RUN output, the cache's counts); reads images back independently (layer
 * tars through Python's tarfile, layer-dump.py) and counts blob files.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildProgress, type BuildOptions } from '../../lib/build.ts';
import type { Image } from '../../lib/image/index.ts';
import { dumpLayers, type TarEntry } from './build-kit.ts';


/** Two build clocks: a rebuild at T2 of a build made at T1. */
export const T1 = new Date('2024-05-06T07:08:09Z');
export const T2 = new Date('2024-06-07T08:09:10Z');

export type CacheCounts = Extract<BuildProgress, { kind: 'cache' }>;

export interface StepRecord {
  stage: string;
  text: string;
  cached: boolean;
}

export interface CacheRun {
  image: Image;
  steps: StepRecord[];
  /** `layer` events: layers packed. */
  layers: number;
  /** RUN output, all of it. */
  output: string;
  cache: CacheCounts;
  warnings: string[];
}

/** Runs `build(opts)` and gathers its events. */
export async function cacheBuild(opts: BuildOptions): Promise<CacheRun> {
  const events: BuildProgress[] = [];
  const { image } = await build({ ...opts, onEvent: (e) => events.push(e) });
  const steps = new Map<number, StepRecord>();
  let cache: CacheCounts | undefined;
  const run: Omit<CacheRun, 'image' | 'steps' | 'cache'> = { layers: 0, output: '', warnings: [] };
  for (const e of events) {
    if (e.kind === 'step') steps.set(e.id, { stage: e.stageName, text: e.text, cached: false });
    else if (e.kind === 'step-done') steps.get(e.id)!.cached = e.cached;
    else if (e.kind === 'layer') run.layers++;
    else if (e.kind === 'output') run.output += e.data.toString('utf8');
    else if (e.kind === 'warning') run.warnings.push(e.message);
    else if (e.kind === 'cache') cache = e;
  }
  if (cache === undefined) throw new Error('the build emitted no cache event');
  return { ...run, image, steps: [...steps.values()], cache };
}

/** Which steps were CACHED, in order (of one stage when `stage` is given). */
export function cachedFlags(run: CacheRun, stage?: string): boolean[] {
  return run.steps.filter((s) => stage === undefined || s.stage === stage).map((s) => s.cached);
}

/** The image's root filesystem as Python's tarfile reads its layers (OCI whiteout rules applied). */
export async function imageFs(image: Image): Promise<Record<string, TarEntry>> {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-dump-'));
  try {
    return (await dumpLayers(image, tmp)).fs;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Files in the store's blobs/sha256. */
export function blobCount(home: string): number {
  return readdirSync(join(home, 'blobs', 'sha256')).length;
}
