/**
 * Test kit: runs COPY/ADD instructions through lib/executor's copy()
 * directly (for what the executor's dispatch does not route to it yet, such
 * as ADD of URLs, or to inject a fetcher and decompressors), over a context
 * directory, then reads the layers back with Python's tarfile (layer-dump.py),
 * like build-kit.ts does for whole builds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore } from '../../lib/content/index.ts';
import { parseDockerfile, ShellLexer, toInstructions } from '../../lib/dockerfile/index.ts';
import { copy, type CopyOptions } from '../../lib/executor/copy.ts';
import type { StageState } from '../../lib/executor/stage-state.ts';
import { scratchImage, withConfig } from '../../lib/image/index.ts';
import { type DirNode, emptyDir, hostTree, SpillDir } from '../../lib/vfs/index.ts';
import { dumpLayers, EPOCH, type Entry, type TarEntry, writeContext } from './build-kit.ts';


export interface Copied {
  /** Entries of each layer, in tar order. */
  layers: TarEntry[][];
  /** The root filesystem after applying every layer. */
  fs: Record<string, TarEntry>;
  /** The stage's tree after the last step. */
  tree: DirNode;
  history: string[];
}

/**
 * Runs the COPY/ADD lines of `steps` (no FROM: the stage starts as scratch
 * with WORKDIR /) over a context of `files`, with `extra` merged into the
 * executor options (fetch, decompressTools…) and `env` as the stage's ENV.
 * SOURCE_DATE_EPOCH is EPOCH.
 */
export async function copySteps(
  files: Record<string, Entry>,
  steps: string,
  extra: Partial<CopyOptions> & { prepare?: (ctx: string) => void; env?: Record<string, string> } = {},
): Promise<Copied> {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-copy-'));
  const spill = SpillDir.create(tmp);
  try {
    const ctx = writeContext(join(tmp, 'ctx'), files);
    const { prepare, env, ...rest } = extra;
    prepare?.(ctx);
    const lexer = new ShellLexer('\\');
    const opts: CopyOptions = {
      file: 'Dockerfile',
      context: { root: ctx, filter: undefined },
      store: new ContentStore(join(tmp, 'store')),
      expander: { word: (w, env) => lexer.processWord(w, env).word, words: (w, env) => lexer.processWords(w, env) },
      now: new Date('2024-05-06T07:08:09Z'),
      epoch: EPOCH,
      format: 'oci',
      compression: 'gzip',
      compressionLevel: 1,
      emit: () => {},
      spill,
      ...rest,
    };
    const source = { tree: hostTree(ctx), confined: true, describe: 'build context' };
    const image = withConfig(scratchImage({ platform: { architecture: 'amd64', os: 'linux' } }), (c) => ({
      ...c,
      config: { WorkingDir: '/', Env: Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`) },
    }));
    let state: StageState = { index: 0, image, tree: emptyDir(), args: new Map() };
    for (const ins of toInstructions(parseDockerfile(steps, 'Dockerfile'))) {
      if (ins.kind !== 'COPY' && ins.kind !== 'ADD') throw new Error(`copySteps runs COPY and ADD only, not ${ins.kind}`);
      state = await copy(state, ins, source, opts, { file: 'Dockerfile', line: ins.range.start });
    }
    const dumped = await dumpLayers(state.image, tmp);
    return { ...dumped, tree: state.tree, history: (state.image.config.history ?? []).map((h) => h.created_by ?? '') };
  } finally {
    spill.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The code, line and message a copySteps run fails with ('none' when it succeeds). */
export async function copyError(...args: Parameters<typeof copySteps>): Promise<{ code: string; line?: number; message: string }> {
  try {
    await copySteps(...args);
    return { code: 'none', message: '' };
  } catch (e) {
    const err = e as { code?: string; location?: { line: number }; message: string };
    return { code: err.code ?? 'uncoded', message: err.message, ...(err.location ? { line: err.location.line } : {}) };
  }
}

