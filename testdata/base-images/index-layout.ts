/**
 * A multi-platform OCI layout made from single-platform ones: one image
 * index (the kind `docker buildx build --platform a,b` pushes) listing each
 * image's manifest with its platform, every blob hard-linked (or copied)
 * from the source layouts, and the index named in index.json. Written as
 * canonical JSON, so the same images always give the same index digest.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImagePlatform } from './stamp.ts';

export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface IndexPart {
  /** An OCI layout holding the image. */
  layout: string;
  manifestDigest: string;
  /** The platform the index names for it: `{architecture, os}` as in its config. */
  platform: ImagePlatform;
}

export interface WrittenIndex {
  digest: string;
  size: number;
}

/** JSON with every object's keys sorted and no whitespace: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function blobPath(layout: string, digest: string): string {
  const [alg = '', hex = ''] = digest.split(':');
  return join(layout, 'blobs', alg, hex);
}

/** Hard-links `from` to `to` (the fixtures are read-only blobs on one file system); copies where linking is refused. */
function linkOrCopy(from: string, to: string): void {
  if (existsSync(to)) return;
  try {
    linkSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    copyFileSync(from, to);
  }
}

/** Writes a blob under its sha256, read-only like kiln's; returns its digest. */
function putBlob(layout: string, bytes: Buffer): string {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const path = blobPath(layout, digest);
  if (!existsSync(path)) writeFileSync(path, bytes, { mode: 0o444 });
  return digest;
}

/**
 * Makes the OCI layout `dest` (a new folder) hold one image index over
 * `parts`, in their order, named `refName`. Each entry is the manifest's
 * descriptor (media type, digest, size) and its platform, with nothing
 * else, as BuildKit writes them; the platform is the part's own, so arm64
 * carries no variant, as from BuildKit (containerd's platform normalization
 * drops arm64's default variant v8). Throws when a part's manifest is
 * missing or not an OCI manifest.
 */
export function writeIndexLayout(dest: string, parts: readonly IndexPart[], refName: string): WrittenIndex {
  mkdirSync(join(dest, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dest, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  const manifests = parts.map((part) => {
    const bytes = readFileSync(blobPath(part.layout, part.manifestDigest));
    const manifest = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; config: { digest: string }; layers: { digest: string }[] };
    if (manifest.mediaType !== MANIFEST_MEDIA_TYPE) throw new Error(`${part.layout}: ${part.manifestDigest} is a ${manifest.mediaType ?? 'manifest without mediaType'}, not an OCI image manifest`);
    for (const digest of [part.manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      linkOrCopy(blobPath(part.layout, digest), blobPath(dest, digest));
    }
    const { os, architecture, variant } = part.platform;
    return { mediaType: MANIFEST_MEDIA_TYPE, digest: part.manifestDigest, size: bytes.length, platform: { architecture, os, variant } };
  });
  const indexBytes = Buffer.from(canonicalJson({ schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests }), 'utf8');
  const digest = putBlob(dest, indexBytes);
  const top = { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [{ mediaType: INDEX_MEDIA_TYPE, digest, size: indexBytes.length, annotations: { [REF_NAME]: refName } }] };
  writeFileSync(join(dest, 'index.json'), canonicalJson(top));
  return { digest, size: indexBytes.length };
}
