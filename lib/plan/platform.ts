/**
 * Platform specifiers as BuildKit reads them (containerd/platforms: Parse,
 * Format, FormatAll, normalizeArch): `os`, `arch`, `os/arch`,
 * `os/arch/variant`, with an optional `os(version+feature…)`.
 */
import { hostPlatform, normalizeArch, type Platform } from '../oci/index.ts';
import { PlanError } from './plan-error.ts';

/** The platform Node runs on, in OCI terms (Linux: kiln builds Linux images). */
export function defaultPlatform(): Platform {
  return hostPlatform();
}

const OS_PART = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;
const PART = /^[A-Za-z0-9_.-]+$/;
const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);


function decodeOption(v: string, spec: string): string {
  if (!v.includes('%')) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    throw new PlanError('PLATFORM_INVALID', `${JSON.stringify(spec)} has an invalid OS option ${JSON.stringify(v)}`);
  }
}

function build(os: string, architecture: string, variant: string, version: string, features: string[]): Platform {
  const p: Platform = { os, architecture };
  if (variant !== '') p.variant = variant;
  if (version !== '') p['os.version'] = version;
  if (features.length > 0) p['os.features'] = features;
  return p;
}

/**
 * Parses a platform specifier as containerd's `platforms.Parse`: a lone word
 * is an OS when it names a known one (architecture from `host`), else an
 * architecture (OS from `host`); `arm64/v8` loses its variant in the two-part
 * form and gains it in the three-part one, as upstream. Throws PlanError
 * PLATFORM_INVALID.
 */
export function parsePlatform(spec: string, host: Platform): Platform {
  const fail = (why: string): never => {
    throw new PlanError('PLATFORM_INVALID', `${JSON.stringify(spec)}: ${why}`);
  };
  if (spec.includes('*')) fail('wildcards not yet supported');
  const parts = spec.split('/');
  if (parts.length > 3) fail('cannot parse platform specifier');
  const m = OS_PART.exec(parts[0]!);
  if (m === null) fail(`${JSON.stringify(parts[0])} is an invalid OS component`);
  for (const part of parts.slice(1)) if (!PART.test(part)) fail(`${JSON.stringify(part)} is an invalid component`);
  let os = m![1]!.toLowerCase();
  if (os === 'macos') os = 'darwin';
  const version = decodeOption(m![2] ?? '', spec);
  const features = (m![3] ?? '').split('+').filter((f) => f !== '').map((f) => decodeOption(f, spec));
  if (parts.length === 1) {
    if (KNOWN_OS.has(os)) return build(os, host.architecture, host.architecture === 'arm' && host.variant !== 'v7' ? (host.variant ?? '') : '', version, features);
    const { architecture, variant } = normalizeArch(parts[0]!, '');
    if (!KNOWN_ARCH.has(architecture)) fail('unknown operating system or architecture');
    return build(host.os, architecture, architecture === 'arm' && variant === 'v7' ? '' : variant, '', []);
  }
  if (parts.length === 2) {
    const { architecture, variant } = normalizeArch(parts[1]!, '');
    return build(os, architecture, architecture === 'arm' && variant === 'v7' ? '' : variant, version, features);
  }
  const { architecture, variant } = normalizeArch(parts[1]!, parts[2]!);
  return build(os, architecture, architecture === 'arm64' && variant === '' ? 'v8' : variant, version, features);
}

const encodeOption = (v: string): string => v.replace(/%/g, '%25').replace(/\+/g, '%2B').replace(/\(/g, '%28').replace(/\)/g, '%29').replace(/\//g, '%2F');

/** `os/arch[/variant]` (containerd `platforms.Format`). */
export function formatPlatform(p: Platform): string {
  if (p.os === '') return 'unknown';
  return [p.os, p.architecture, p.variant ?? ''].filter((s) => s !== '').join('/');
}

/** `os[(version+features)]/arch[/variant]` (containerd `platforms.FormatAll`). */
export function formatPlatformAll(p: Platform): string {
  if (p.os === '') return 'unknown';
  const version = p['os.version'] ?? '';
  const features = [...new Set(p['os.features'] ?? [])].filter((f) => f !== '').sort();
  if (version === '' && features.length === 0) return formatPlatform(p);
  const opts = `${encodeOption(version)}${features.length > 0 ? `+${features.map(encodeOption).join('+')}` : ''}`;
  return [`${p.os}(${opts})`, p.architecture, p.variant ?? ''].filter((s) => s !== '').join('/');
}
