import { DOCKER_HUB, DOCKER_HUB_API } from './image-ref.ts';

/** The key Docker uses for Docker Hub in config.json and with credential helpers. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

/**
 * The host[:port] that serves the distribution API of a registry named in a
 * reference: Docker Hub's `docker.io` answers at `registry-1.docker.io`;
 * every other registry answers under its own name.
 */
export function registryHost(registry: string): string {
  return normalizeRegistry(registry) === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * Normalizes how people name a registry (`https://index.docker.io/v1/`,
 * `registry-1.docker.io`, `HTTP://Host:5000/`, `ghcr.io`) to the name a
 * parsed reference carries (`docker.io`, `host:5000`, `ghcr.io`): scheme and
 * path dropped, host lower-cased, Docker Hub's aliases folded.
 */
export function normalizeRegistry(name: string): string {
  let host = name.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === DOCKER_HUB_API || host === DOCKER_HUB) return DOCKER_HUB;
  return host;
}
