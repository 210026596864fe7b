import { type Descriptor, type Index, normalizeArch, type Platform } from '../oci/index.ts';

/** os/architecture/variant after containerd's normalization ('' = no variant). */
interface Norm {
  os: string;
  architecture: string;
  variant: string;
}

/** os lower-cased (macos → darwin), architecture and variant through containerd's normalizeArch. */
function normalize(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): Norm {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  return { os, architecture, variant };
}

const versionOf = (variant: string, prefix = 'v'): number => (variant.startsWith(prefix) ? Number(variant.slice(prefix.length)) : NaN);

/**
 * Variant numbers walked down from, at most: beyond every real one (amd64
 * v4, arm v8, arm64 v8.9 and v9.5), so that a made-up variant such as
 * `v8.99999999` lists a few dozen platforms instead of filling the memory
 * (found by make fuzz).
 */
const MAX_VARIANT_STEP = 16;
const capped = (v: number): number => Math.min(v, MAX_VARIANT_STEP);

/**
 * The platforms a host of `p` runs, best first, as containerd's
 * `platforms.Only`: amd64/vN also runs vN-1…v1 and 386; arm/vN runs
 * vN-1…v5; arm64/v8.x runs v8.(x-1)…v8 (v9.x also v8.(x+5)…) and 32-bit
 * arm/v8…v5.
 */
export function compatiblePlatforms(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): Norm[] {
  const n = normalize(p);
  const out: Norm[] = [n];
  const same = (variant: string): Norm => ({ ...n, variant });
  if (n.architecture === 'amd64') {
    for (let v = capped(versionOf(n.variant) - 1); v >= 1; v--) out.push(same(v === 1 ? '' : `v${v}`));
    out.push({ os: n.os, architecture: '386', variant: '' });
  } else if (n.architecture === 'arm') {
    for (let v = capped(versionOf(n.variant) - 1); v >= 5; v--) out.push(same(`v${v}`));
  } else if (n.architecture === 'arm64') {
    const variant = n.variant === '' ? 'v8' : n.variant;
    const [majorText, minorText] = variant.slice(1).split('.');
    const major = Number(majorText);
    let minor = minorText === undefined ? 0 : capped(Number(minorText));
    if (major === 9 && Number.isInteger(minor)) {
      for (let m = minor - 1; m >= 0; m--) out.push(same(m === 0 ? 'v9' : `v9.${m}`));
      minor = Math.min(9, minor + 5);
      out.push(same(`v8.${minor}`));
    }
    if ((major === 8 || major === 9) && Number.isInteger(minor)) {
      for (let m = minor - 1; m >= 0; m--) out.push(same(m === 0 ? '' : `v8.${m}`));
    }
    if (major >= 8) out.push(...compatiblePlatforms({ os: n.os, architecture: 'arm', variant: 'v8' }));
  }
  return out;
}

function matches(want: Norm, candidate: Platform): boolean {
  const c = normalize(candidate);
  return c.os === want.os && c.architecture === want.architecture && c.variant === want.variant;
}

/**
 * The manifest of `index` that best fits `platform`, by containerd's
 * ordered matcher: an exact match (after normalization: `aarch64` =
 * `arm64`, `arm` = `arm/v7`, `arm64/v8` = `arm64`) first, then the
 * compatible platforms in order of preference; among equals, the first in
 * the index. Entries without a platform (attestations, artifacts) never
 * match. Undefined when nothing fits.
 */
export function resolvePlatform(index: Pick<Index, 'manifests'>, platform: Pick<Platform, 'os' | 'architecture' | 'variant'>): Descriptor | undefined {
  for (const want of compatiblePlatforms(platform)) {
    const hit = index.manifests.find((d) => d.platform !== undefined && matches(want, d.platform));
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** `os/arch[/variant]` of every platform an index offers, for messages. */
export function describePlatforms(index: Pick<Index, 'manifests'>): string[] {
  return index.manifests.flatMap((d) => (d.platform ? [[d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/')] : []));
}
