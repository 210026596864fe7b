/** The flags every registry command shares, and the registry client they configure. */
import { hostPlatform, parseMirrors, parsePlatform, type Platform, RegistryClient, type RegistryEvent } from '../lib/index.ts';
import type { OptionSpec, Parsed } from './args.ts';
import type { Io } from './main.ts';

export const REGISTRY_SPECS: readonly OptionSpec[] = [
  { name: 'insecure-registry', value: true, repeat: true },
  { name: 'ca-cert', value: true, repeat: true },
  { name: 'registry-mirror', value: true, repeat: true },
];

/**
 * A registry client for the command line's flags: insecure registries, CA
 * files, mirrors from KILN_REGISTRY_MIRRORS then --registry-mirror, and
 * docker's credential configuration from the environment.
 */
export function registryClient(args: Parsed, io: Io, onEvent?: (e: RegistryEvent) => void): RegistryClient {
  const mirrorSpecs = [...(io.env.KILN_REGISTRY_MIRRORS ? [io.env.KILN_REGISTRY_MIRRORS] : []), ...(args.values.get('registry-mirror') ?? [])];
  return new RegistryClient({
    insecureRegistries: args.values.get('insecure-registry') ?? [],
    caCerts: args.values.get('ca-cert') ?? [],
    mirrors: parseMirrors(mirrorSpecs),
    env: io.env,
    userAgent: 'kiln',
    ...(onEvent !== undefined ? { onEvent } : {}),
  });
}

/** `--platform os/arch[/variant]` (containerd's syntax), else the host's platform. */
export function platformFlag(args: Parsed): Platform {
  const spec = args.values.get('platform')?.[0];
  return spec === undefined ? hostPlatform() : parsePlatform(spec, hostPlatform());
}
