import type { Platform } from './types.ts';

/** Node's `process.arch` in OCI's words. */
const OCI_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/** The platform Node runs on, in OCI terms (Linux: kiln builds and runs Linux images). */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: OCI_ARCH[process.arch] ?? process.arch };
}
