import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, normalizeRegistry } from '../ref/index.ts';
import { RegistryError } from './registry-error.ts';

/** One `auths` entry of Docker's config.json. */
export interface DockerAuthEntry {
  /** base64 of `user:password`. */
  auth?: string;
  identitytoken?: string;
  username?: string;
  password?: string;
  email?: string;
  [key: string]: unknown;
}

/** The parts of Docker's config.json kiln reads; other keys are kept as they are. */
export interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG;
  return dir !== undefined && dir !== '' ? dir : join(env.HOME ?? homedir(), '.docker');
}

/** The config.json key docker uses for a registry: Docker Hub's legacy URL, else host[:port]. */
export function configKey(registry: string): string {
  const r = normalizeRegistry(registry);
  return r === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : r;
}

/** Reads config.json; a missing file is an empty config. */
export function readDockerConfig(path: string): DockerConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RegistryError('DOCKER_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, and the file holds secrets.
    throw new RegistryError('DOCKER_CONFIG_INVALID', `${path} is not valid JSON`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RegistryError('DOCKER_CONFIG_INVALID', `${path} does not hold a JSON object`);
  }
  return doc as DockerConfigFile;
}

/**
 * Writes config.json as docker does (tab-indented JSON), atomically: a temp
 * file in the same folder with mode 0600, fsynced, renamed over the target
 * (the target of a symlink, when config.json is one). The folder is made
 * with mode 0700 when missing.
 */
export function writeDockerConfig(path: string, config: DockerConfigFile): void {
  let target = path;
  try {
    target = realpathSync(path);
  } catch {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(config, null, '\t')}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, target);
}

/** The entry of `config[section]` whose key names `registry` in any of docker's spellings. */
export function findByRegistry<T>(section: Record<string, T> | undefined, registry: string): [string, T] | undefined {
  if (section === undefined) return undefined;
  const want = normalizeRegistry(registry);
  const exact = configKey(want);
  if (Object.hasOwn(section, exact)) return [exact, section[exact]!];
  const key = Object.keys(section).find((k) => normalizeRegistry(k) === want);
  return key === undefined ? undefined : [key, section[key]!];
}
