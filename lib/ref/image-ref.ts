import { KilnError } from '../errors.ts';
import { type Digest, parseDigest } from '../digest/index.ts';

export class RefError extends KilnError {}

/** A parsed, normalized image reference. Only {@link parseRef} makes one. */
export interface ImageRef {
  /** Registry host[:port], `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path, `library/`-prefixed for official Docker Hub images. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's API actually answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

// distribution/reference grammar
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

/**
 * Parses `[registry[:port]/]repo[:tag][@digest]` with Docker's defaults: no
 * registry means docker.io, a one-component Docker Hub name gets `library/`,
 * and no tag and no digest means `latest` (when `defaultTag` is true).
 */
export function parseRef(input: string, opts: { defaultTag?: boolean } = {}): ImageRef {
  const fail = (why: string): never => {
    throw new RefError('REF_INVALID', `invalid image reference ${JSON.stringify(input)}: ${why}`, { ref: input });
  };
  if (input.length === 0) fail('empty');
  if (input.length > 255 + 128 + 80) fail('too long');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch {
      fail('bad digest');
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`bad tag ${JSON.stringify(tag)}`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    rest = rest.slice(slash + 1);
    if (!isDomain(registry)) fail(`bad registry ${JSON.stringify(registry)}`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (rest.length === 0) fail('no repository');
  const components = rest.split('/');
  for (const c of components) {
    if (!COMPONENT.test(c)) fail(`bad repository component ${JSON.stringify(c)} (lower-case letters, digits and separators only)`);
  }
  if (registry === DOCKER_HUB && components.length === 1) rest = `library/${rest}`;
  if (rest.length > 255) fail('repository name longer than 255 characters');
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = 'latest';
  return Object.freeze({ registry, repository: rest, tag, digest });
}

function isDomain(s: string): boolean {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m || m[1] === undefined) return false;
  if (m[1].startsWith('[')) return true;
  return m[1].split('.').every((l) => DOMAIN_LABEL.test(l));
}

/** `registry/repository` without tag or digest. */
export function refName(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical full form: `docker.io/library/nginx:latest`, `r:5000/a/b@sha256:…`. */
export function formatRef(ref: ImageRef): string {
  return `${refName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The repository as `docker image ls` shows it: Docker Hub's registry and `library/` dropped. */
export function familiarName(ref: ImageRef): string {
  if (ref.registry !== DOCKER_HUB) return refName(ref);
  return ref.repository.startsWith('library/') ? ref.repository.slice('library/'.length) : ref.repository;
}

/** The same reference with another tag (digest dropped). */
export function withTag(ref: ImageRef, tag: string): ImageRef {
  return parseRef(`${refName(ref)}:${tag}`);
}
