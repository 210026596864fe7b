import { appendHistory, appendLayer, storeLayer } from '../image/index.ts';
import { MediaType, layerMediaType } from '../oci/index.ts';
import { changesToLayer, diff, type DirNode } from '../vfs/index.ts';
import { createdTime, type ExecOptions, type StageState } from './stage-state.ts';

const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** Records a metadata-only step (`empty_layer: true`), as BuildKit's commitToHistory(…, false). */
export function commitMetadata(state: StageState, createdBy: string, opts: ExecOptions): StageState {
  const image = appendHistory(state.image, { created: createdTime(opts), created_by: createdBy, comment: HISTORY_COMMENT });
  return { ...state, image };
}

/**
 * Turns the difference between the stage's tree and `tree` into a layer:
 * diff → sorted tar entries → one pass of tar, sha256 (diffID) and
 * compression → the content store (which hashes the compressed bytes). Like
 * BuildKit, a filesystem step always makes a layer, an empty tar when
 * nothing changed, so non-empty history entries and layers correspond.
 * `createdBy` is written as given (BuildKit appends " # buildkit" for RUN and COPY/ADD only).
 * With `opts.treeOnly` (a cached step redone), only the tree changes.
 */
export async function commitLayer(state: StageState, tree: DirNode, createdBy: string, opts: ExecOptions): Promise<StageState> {
  if (opts.treeOnly) return { ...state, tree };
  const { stream, uncompressed } = changesToLayer(tree, diff(state.tree, tree), {
    compression: opts.compression,
    level: opts.compressionLevel,
    ...(opts.epoch !== undefined ? { mtimeClamp: opts.epoch } : {}),
  });
  const [put, raw] = await Promise.all([opts.store.put(stream), uncompressed]);
  const mediaType = opts.format === 'docker' ? MediaType.DockerLayerGzip : layerMediaType(opts.compression, 'oci');
  const layer = storeLayer(opts.store, {
    descriptor: { mediaType, digest: put.digest, size: put.size },
    diffId: raw.diffId,
    uncompressedSize: raw.size,
  });
  opts.emit({ kind: 'layer', stage: state.index, digest: put.digest, size: put.size, diffId: raw.diffId });
  const image = appendLayer(state.image, layer, { created: createdTime(opts), created_by: createdBy, comment: HISTORY_COMMENT });
  return { ...state, image, tree };
}
