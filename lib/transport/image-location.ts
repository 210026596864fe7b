import { type ImageRef, RefError, formatRef, parseRef } from '../ref/index.ts';
import { TransportError } from './transport-error.ts';

/**
 * Where an image is, named the way skopeo and docker name it:
 * - `docker://REF`: a registry (`docker://127.0.0.1:5000/app:1`, `docker://nginx`);
 * - `oci:DIR[:TAG]`: an OCI image layout folder, TAG its `ref.name`;
 * - `oci-archive:FILE[:TAG]`: the same layout as one tar file;
 * - `docker-archive:FILE[:NAME:TAG | @N]`: what `docker save` writes and
 *   `docker load` reads; a reference picks an image by its RepoTags, `@N`
 *   by its position in manifest.json (from 0);
 * - anything else: an image of the local store, by name or ID.
 */
export type ImageLocation =
  | { readonly kind: 'registry'; readonly ref: ImageRef }
  | { readonly kind: 'oci'; readonly dir: string; readonly tag: string | undefined }
  | { readonly kind: 'oci-archive'; readonly file: string; readonly tag: string | undefined }
  | { readonly kind: 'docker-archive'; readonly file: string; readonly ref: ImageRef | undefined; readonly index: number | undefined }
  | { readonly kind: 'local'; readonly name: string };

export type LocationKind = ImageLocation['kind'];

const PREFIXES = ['docker://', 'oci:', 'oci-archive:', 'docker-archive:'] as const;

/**
 * Parses an image location (see {@link ImageLocation}). Paths are kept as
 * given (relative ones are relative to the caller's working directory); as
 * skopeo does, the path ends at the first `:` after the transport name.
 * Throws LOCATION_INVALID with the reason, or REF_INVALID for a bad image
 * reference.
 */
export function parseLocation(input: string): ImageLocation {
  const fail = (why: string): never => {
    throw new TransportError('LOCATION_INVALID', `invalid image location ${JSON.stringify(input)}: ${why}`, { input });
  };
  if (input === '') fail('empty');
  const prefix = PREFIXES.find((p) => input.startsWith(p));
  if (prefix === undefined) {
    if (/^[a-z][a-z0-9+-]*:\/\//i.test(input)) fail('unknown transport (use docker://, oci:, oci-archive: or docker-archive:)');
    return { kind: 'local', name: input };
  }
  const rest = input.slice(prefix.length);
  switch (prefix) {
    case 'docker://':
      if (rest === '') fail('no image reference after docker://');
      return { kind: 'registry', ref: refIn(input, rest) };
    case 'oci:':
    case 'oci-archive:': {
      const { path, tail } = splitPath(rest);
      if (path === '') fail(`no ${prefix === 'oci:' ? 'directory' : 'file'} after ${prefix}`);
      if (tail === '') fail('empty tag after ":"');
      return prefix === 'oci:' ? { kind: 'oci', dir: path, tag: tail } : { kind: 'oci-archive', file: path, tag: tail };
    }
    case 'docker-archive:': {
      const { path, tail } = splitPath(rest);
      if (path === '') fail('no file after docker-archive:');
      if (tail === undefined) return { kind: 'docker-archive', file: path, ref: undefined, index: undefined };
      if (tail.startsWith('@')) {
        if (!/^@\d{1,6}$/.test(tail)) fail(`${JSON.stringify(tail)} is not @N (an image's position in the archive)`);
        return { kind: 'docker-archive', file: path, ref: undefined, index: Number(tail.slice(1)) };
      }
      const ref = refIn(input, tail);
      if (ref.digest !== undefined) fail('a docker-archive names images by name:tag, not by digest');
      return { kind: 'docker-archive', file: path, ref, index: undefined };
    }
  }
}

function splitPath(rest: string): { path: string; tail: string | undefined } {
  const colon = rest.indexOf(':');
  return colon < 0 ? { path: rest, tail: undefined } : { path: rest.slice(0, colon), tail: rest.slice(colon + 1) };
}

function refIn(input: string, text: string): ImageRef {
  try {
    return parseRef(text);
  } catch (err) {
    if (err instanceof RefError) throw new TransportError('REF_INVALID', `invalid image location ${JSON.stringify(input)}: ${err.message}`, { cause: err, ref: text });
    throw err;
  }
}

/** The location as the user would write it (canonical references for registries). */
export function formatLocation(loc: ImageLocation): string {
  switch (loc.kind) {
    case 'registry':
      return `docker://${formatRef(loc.ref)}`;
    case 'oci':
      return `oci:${loc.dir}${loc.tag !== undefined ? `:${loc.tag}` : ''}`;
    case 'oci-archive':
      return `oci-archive:${loc.file}${loc.tag !== undefined ? `:${loc.tag}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${loc.file}${loc.ref !== undefined ? `:${formatRef(loc.ref)}` : loc.index !== undefined ? `:@${loc.index}` : ''}`;
    case 'local':
      return loc.name;
  }
}
