import { readFileSync } from 'node:fs';
import type { ExtraHost } from './types.ts';

/** BuildKit's default hostname for RUN (executor/oci/hosts.go). */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

/** BuildKit's /etc/hosts: localhost with the hostname, the IPv6 loopback names, then the extra hosts. */
export function hostsFile(hostname: string, extraHosts: readonly ExtraHost[] = []): string {
  let s = `127.0.0.1\tlocalhost ${hostname || DEFAULT_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
  for (const h of extraHosts) s += `${h.ip}\t${h.host}\n`;
  return s;
}

const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '2001:4860:4860::8844'];

/**
 * The RUN's /etc/resolv.conf from the host's. With the host's network the
 * host's resolvers work as they are (BuildKit's host mode copies the file);
 * with `none` BuildKit applies its legacy-network transform: loopback
 * nameservers dropped, Google's public ones when none is left. A missing
 * host file counts as empty.
 */
export function resolvConf(network: 'default' | 'none' | 'host', hostFile = '/etc/resolv.conf'): string {
  let text = '';
  try {
    text = readFileSync(hostFile, 'utf8');
  } catch {
    // no host resolv.conf: the defaults below
  }
  const lines = text.split('\n');
  const isNs = (l: string): boolean => /^\s*nameserver\s/.test(l);
  const kept = network === 'none' ? lines.filter((l) => !isNs(l) || !isLoopback(l.trim().split(/\s+/)[1] ?? '')) : lines;
  const out = kept.join('\n').replace(/\n*$/, '\n');
  if (kept.some(isNs)) return out;
  return (out === '\n' ? '' : out) + DEFAULT_NAMESERVERS.map((n) => `nameserver ${n}\n`).join('');
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.');
}
