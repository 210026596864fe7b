/**
 * Helpers shared by the registry client tests: a client configured for a
 * kit registry, whole-stream reads, an independent sha256, and a push of a
 * kiln Image through the client (the way the registry transport will do it).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ContentStore } from '../../lib/content/index.ts';
import type { Image } from '../../lib/image/index.ts';
import { parseDigest } from '../../lib/digest/index.ts';
import type { Descriptor } from '../../lib/oci/index.ts';
import { parseRef, type ImageRef } from '../../lib/ref/index.ts';
import { type Credentials, RegistryClient, type RegistryClientOptions, staticCredentials } from '../../lib/registry/index.ts';
import { prng, randomImage } from '../helpers/random-image.ts';
import type { RunningRegistry } from '../helpers/registry.ts';

/** Retries fast enough for tests. */
export const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 };

/** The registry's first user, as credentials (undefined for open registries). */
export function firstUser(reg: RunningRegistry): Credentials | undefined {
  const [username, password] = Object.entries(reg.users)[0] ?? [];
  return username === undefined || password === undefined ? undefined : { kind: 'basic', username, password };
}

/** A client for `reg` (its CA trusted, its first user's credentials) with fast retries. */
export function clientFor(reg: RunningRegistry, opts: RegistryClientOptions & { creds?: Credentials | null } = {}): RegistryClient {
  const creds = opts.creds === undefined ? firstUser(reg) : opts.creds;
  return new RegistryClient({
    credentials: staticCredentials(creds ? { [reg.host]: creds } : {}),
    caCerts: reg.caCertPath !== undefined ? [reg.caCertPath] : [],
    ...opts,
    retry: { ...FAST_RETRY, ...opts.retry },
  });
}

export function ref(host: string, name: string): ImageRef {
  return parseRef(`${host}/${name}`);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** sha256 with node:crypto directly, independent of lib/digest. */
export function sha256hex(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A seeded random image in a throwaway store; `cleanup` removes the store. */
export async function makeImage(opts: { seed: number; layers?: number; maxFileSize?: number; files?: number; format?: 'oci' | 'docker' }): Promise<{ image: Image; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-registry-test-'));
  const { image } = await randomImage(new ContentStore(root), opts);
  return { image, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Pushes an image with the client: config and layers (mounting from `mountFrom` when given), then the manifest. */
export async function pushImage(client: RegistryClient, target: ImageRef, image: Image, opts: { mountFrom?: string } = {}): Promise<string[]> {
  const results: string[] = [];
  const config = image.configBytes;
  results.push(await client.pushBlob(target, image.configDescriptor, () => Readable.from([config]), opts));
  for (const layer of image.layers) results.push(await client.pushBlob(target, layer.descriptor, () => layer.open(), opts));
  await client.putManifest(target, image.manifestBytes, image.descriptor.mediaType);
  return results;
}

/** Every blob file of an OCI layout, by digest. */
export async function layoutBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** A descriptor for raw bytes, hashed here with node:crypto. */
export function rawDescriptor(bytes: Buffer): Descriptor {
  return { mediaType: 'application/octet-stream', digest: parseDigest(sha256hex(bytes)), size: bytes.length };
}

/** Seeded pseudo-random bytes (incompressible, reproducible). */
export function randomBytesSeeded(size: number, seed: number): Buffer {
  const rand = prng(seed);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** A blob as the registry serves it, fetched without kiln's client (open registries). */
export async function fetchBlob(reg: RunningRegistry, repo: string, digest: string): Promise<Buffer | undefined> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : undefined;
}
