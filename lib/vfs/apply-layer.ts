import type { Readable } from 'node:stream';
import { decompressStream, ExpansionMeter, readTar } from '../archive/index.ts';
import { VerifyingStream } from '../digest/index.ts';
import { LayerApplier } from './layer-applier.ts';
import { type ApplyLimits, applyLimits } from './limits.ts';
import type { DirNode, Meta } from './node.ts';
import type { SpillDir } from './spill.ts';

export interface ApplyLayerOptions {
  /** Where the layer's file contents are written: one new spill file, which the result's file nodes point into. */
  spill: SpillDir;
  /** Overrides of {@link DEFAULT_LIMITS} and of the environment (see {@link applyLimits}). */
  limits?: Partial<ApplyLimits>;
  /**
   * The layer's name in errors: its blob digest. Default: the digest the
   * input is verified against when it is a VerifyingStream (a layer's
   * `openUncompressed()`: its diff ID).
   */
  name?: string;
}

/** Directories a layer implies without listing them: 0755 root:root, mtime 0 (containerd's mkparent makes them 0755). */
export const IMPLIED_DIR: Meta = Object.freeze({ mode: 0o755, uid: 0, gid: 0, mtime: 0 });

/**
 * Applies one OCI layer to `tree` and returns the new tree; `tree` is not
 * changed and shares every untouched subtree with the result.
 *
 * `input` is the layer blob: gzip, zstd (ZSTD_UNSUPPORTED on a Node.js
 * without it) or plain tar, told apart by its first bytes. applyLayer owns
 * `input`: it reads it to its end, or destroys it on failure.
 *
 * The entries' semantics are those of containerd's applier (see
 * {@link LayerApplier}): paths confined to the root, whiteouts and opaque
 * markers hiding only lower layers, hardlinks as link groups, sparse files
 * expanded, duplicates resolved last-one-wins. Regular files' bytes go to
 * one new file in `opts.spill` and never stay in memory.
 *
 * Failures: the archive's own (ArchiveError TAR_INVALID, COMPRESSION_INVALID,
 * and LAYER_TOO_LARGE, LAYER_RATIO_EXCEEDED from the layer's
 * {@link ExpansionMeter}) and VfsError LAYER_TOO_MANY_ENTRIES,
 * PATH_TOO_DEEP, NAME_TOO_LONG, PATH_TOO_LONG, NAME_INVALID,
 * NOT_A_DIRECTORY, SYMLINK_LOOP, SYMLINK_INVALID, HARDLINK_INVALID,
 * WHITEOUT_INVALID; limit errors name the layer when it is known. On
 * failure the spill file is deleted and nothing else was written.
 */
export async function applyLayer(tree: DirNode, input: Readable, opts: ApplyLayerOptions): Promise<DirNode> {
  let limits: ApplyLimits;
  try {
    limits = applyLimits(opts.limits);
  } catch (err) {
    input.destroy();
    throw err;
  }
  const meter = new ExpansionMeter(limits, { kind: 'layer', name: opts.name ?? streamName(input) });
  const spill = opts.spill.newFile();
  const applier = new LayerApplier(tree, { mode: 'layer', impliedDir: IMPLIED_DIR, limits, meter, spill });
  try {
    await readTar(decompressStream(input, { meter }), (h, body) => applier.apply(h, body));
    spill.close();
  } catch (err) {
    spill.discard();
    input.destroy();
    throw err;
  }
  return applier.finish();
}

/** What a verified stream is checked against, to name it in errors. */
function streamName(input: Readable): string | undefined {
  return input instanceof VerifyingStream ? `${input.expect.digest} (diff ID)` : undefined;
}
