/**
 * containerd's normalizeArch (platforms package): architecture aliases folded
 * (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7…) and default variants
 * made explicit or dropped, so platforms compare equal however written.
 * Shared by the planner (--platform) and the registry client (index matching).
 */
export function normalizeArch(archIn: string, variantIn: string): { architecture: string; variant: string } {
  let arch = archIn.toLowerCase();
  let variant = variantIn.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64': case 'x86-64': case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64': case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return { architecture: arch, variant };
}
