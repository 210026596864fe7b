import { isIP } from 'node:net';
import { normalizeRegistry } from '../ref/index.ts';

/** `host` without its port (IPv6 brackets kept off): `[::1]:5000` → `::1`. */
export function hostname(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const colon = hostPort.lastIndexOf(':');
  if (colon >= 0 && hostPort.indexOf(':') === colon) return hostPort.slice(0, colon);
  return hostPort;
}

/** True for localhost, 127.0.0.0/8 and ::1. */
export function isLoopback(hostPort: string): boolean {
  const h = hostname(hostPort).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/**
 * Which registries may be spoken to over plain http, and which get their TLS
 * certificates unchecked. Loopback hosts may use http (tried after https);
 * hosts listed as insecure (`host` for every port, or `host:port`) may use
 * http and, as with Docker's `--insecure-registry`, an unverified
 * certificate.
 */
export class HostPolicy {
  readonly #insecure: Set<string>;

  constructor(insecureRegistries: readonly string[] = []) {
    this.#insecure = new Set(insecureRegistries.map((r) => normalizeRegistry(r)));
  }

  /** Listed with insecureRegistries (by host:port or by host). */
  isInsecure(hostPort: string): boolean {
    const h = hostPort.toLowerCase();
    return this.#insecure.has(h) || this.#insecure.has(hostname(h));
  }

  allowsHttp(hostPort: string): boolean {
    return isLoopback(hostPort) || this.isInsecure(hostPort);
  }
}
