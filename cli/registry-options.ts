/** The flags every registry command shares, and the registry client they configure. */
import { hostPlatform, parseMirrors, parsePlatform, type Platform, RegistryClient, type RegistryClientOptions, type RegistryEvent } from '../lib/index.ts';
import { type OptionSpec, type Parsed, UsageError } from './args.ts';
import type { Io } from './main.ts';

export const REGISTRY_SPECS: readonly OptionSpec[] = [
  { name: 'insecure-registry', value: true, repeat: true },
  { name: 'ca-cert', value: true, repeat: true },
  { name: 'registry-mirror', value: true, repeat: true },
  { name: 'connect-timeout', value: true },
  { name: 'response-timeout', value: true },
  { name: 'idle-timeout', value: true },
];

/**
 * A registry client for the command line's flags: insecure registries, CA
 * files, mirrors from KILN_REGISTRY_MIRRORS then --registry-mirror, network
 * timeouts (see {@link networkTimeouts}), and docker's credential
 * configuration from the environment.
 */
export function registryClient(args: Parsed, io: Io, onEvent?: (e: RegistryEvent) => void): RegistryClient {
  const mirrorSpecs = [...(io.env.KILN_REGISTRY_MIRRORS ? [io.env.KILN_REGISTRY_MIRRORS] : []), ...(args.values.get('registry-mirror') ?? [])];
  return new RegistryClient({
    insecureRegistries: args.values.get('insecure-registry') ?? [],
    caCerts: args.values.get('ca-cert') ?? [],
    mirrors: parseMirrors(mirrorSpecs),
    env: io.env,
    userAgent: 'kiln',
    timeouts: networkTimeouts(args, io),
    ...(onEvent !== undefined ? { onEvent } : {}),
  });
}

type Timeouts = NonNullable<RegistryClientOptions['timeouts']>;

/** Each timeout: its flag, the variable that sets it when the flag is not given, and its field. */
const TIMEOUTS: readonly { flag: string; env: string; key: keyof Timeouts }[] = [
  { flag: 'connect-timeout', env: 'KILN_CONNECT_TIMEOUT', key: 'connectMs' },
  { flag: 'response-timeout', env: 'KILN_RESPONSE_TIMEOUT', key: 'headersMs' },
  { flag: 'idle-timeout', env: 'KILN_IDLE_TIMEOUT', key: 'bodyIdleMs' },
];

/**
 * The network timeouts the command line sets: `--connect-timeout` (TCP and
 * TLS), `--response-timeout` (request sent to response headers) and
 * `--idle-timeout` (longest silence inside a body), each else from
 * KILN_CONNECT_TIMEOUT, KILN_RESPONSE_TIMEOUT, KILN_IDLE_TIMEOUT; unset ones
 * keep the library's defaults (30 s, 60 s, 60 s). Values are durations such
 * as `30s`, `2m`, `1m30s`, `500ms`, or bare seconds; a bad one is a usage error.
 */
export function networkTimeouts(args: Parsed, io: Io): Partial<Timeouts> {
  const out: Partial<Timeouts> = {};
  for (const { flag, env, key } of TIMEOUTS) {
    const fromFlag = args.values.get(flag)?.[0];
    const text = fromFlag ?? (io.env[env]?.trim() || undefined);
    if (text === undefined) continue;
    const ms = parseDuration(text);
    if (ms === undefined) {
      throw new UsageError(`invalid ${fromFlag !== undefined ? `--${flag}` : env} ${JSON.stringify(text)}: give a duration such as 30s, 2m, 1m30s or 500ms (at most 24h)`);
    }
    out[key] = ms;
  }
  return out;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration (`1m30s`, `500ms`, `1.5s`) or bare seconds; undefined unless in (0, 24h]. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  let ms: number;
  if (/^\d+(?:\.\d+)?$/.test(t)) {
    ms = Number(t) * 1000;
  } else {
    if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(t)) return undefined;
    ms = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  ms = Math.round(ms);
  return ms > 0 && ms <= 24 * 3_600_000 ? ms : undefined;
}

/** `--platform a,b` (repeatable): the build's target platforms, in order; none or `local`: this machine's (buildx's word). */
export function platformsFlag(args: Parsed): Platform[] {
  const specs = (args.values.get('platform') ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (specs.length === 0) return [hostPlatform()];
  return specs.map((spec) => (spec.toLowerCase() === 'local' ? hostPlatform() : parsePlatform(spec, hostPlatform())));
}

/** `--platform os/arch[/variant]` (containerd's syntax), else the host's platform. */
export function platformFlag(args: Parsed): Platform {
  const spec = args.values.get('platform')?.[0];
  return spec === undefined ? hostPlatform() : parsePlatform(spec, hostPlatform());
}
