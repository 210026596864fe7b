/**
 * buildah's configuration for tests and the bench, written into `dir`: no
 * credentials, every image accepted (signature policy), and Docker Hub
 * mirrored by the kit registry at `mirrorHost` over plain http — the only
 * registry reachable here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BuildahConfig {
  /** For CONTAINERS_REGISTRIES_CONF. */
  registriesConf: string;
  /** For --signature-policy. */
  policy: string;
  /** For REGISTRY_AUTH_FILE. */
  authFile: string;
  /** For DOCKER_CONFIG. */
  dockerConfig: string;
}

export function writeBuildahConfig(dir: string, mirrorHost: string): BuildahConfig {
  const c: BuildahConfig = {
    registriesConf: join(dir, 'registries.conf'),
    policy: join(dir, 'policy.json'),
    authFile: join(dir, 'auth.json'),
    dockerConfig: join(dir, 'docker-config'),
  };
  mkdirSync(c.dockerConfig, { recursive: true });
  writeFileSync(c.authFile, '{"auths":{}}\n');
  writeFileSync(join(c.dockerConfig, 'config.json'), '{"auths":{}}\n');
  writeFileSync(c.policy, '{"default":[{"type":"insecureAcceptAnything"}]}\n');
  writeFileSync(c.registriesConf, [
    'unqualified-search-registries = ["docker.io"]',
    'short-name-mode = "permissive"',
    '[[registry]]',
    'prefix = "docker.io"',
    'location = "docker.io"',
    '[[registry.mirror]]',
    `location = "${mirrorHost}"`,
    'insecure = true',
    '',
  ].join('\n'));
  return c;
}
