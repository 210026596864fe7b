import { type Digest, sha256 } from '../digest/index.ts';
import { OciError } from './oci-error.ts';

/**
 * The ChainID of every prefix of a layer stack (image-spec config.md "Layer
 * ChainID"): ChainID(L0) = DiffID(L0), ChainID(L0..Ln) = sha256 of the text
 * `ChainID(L0..Ln-1) + " " + DiffID(Ln)`. The digests are hashed as given,
 * not re-validated. An empty stack gives an empty list.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let previous: Digest | undefined;
  for (const diffId of diffIds) {
    previous = previous === undefined ? diffId : sha256(`${previous} ${diffId}`);
    out.push(previous);
  }
  return out;
}

/** The ChainID of the whole stack `diffIds`; throws `CHAIN_ID_EMPTY` for no layers, which have none. */
export function chainId(diffIds: readonly Digest[]): Digest {
  const last = chainIds(diffIds).at(-1);
  if (last === undefined) throw new OciError('CHAIN_ID_EMPTY', 'an empty layer stack has no ChainID');
  return last;
}
