/**
 * Differential kit: what differs between kiln's and buildah's image of one
 * case — paths (every fact of rootfs-facts.ts), the config fields a
 * Dockerfile controls, and the history's shape. Empty lists and maps are the
 * same as absent ones (buildah writes `"Entrypoint": []`, `"Labels": {}` for
 * unset fields; both mean "none" to every runtime), and a health check's zero
 * durations are the same as absent ones (Docker's defaults apply to both).
 */
import { isDeepStrictEqual } from 'node:util';
import type { HealthConfig, ImageConfig, RunConfig } from '../../lib/oci/types.ts';
import type { PeerImage } from './peers.ts';
import type { EntryFacts } from './rootfs-facts.ts';

/** One disagreement. `kiln`/`buildah` are undefined where that side has nothing. */
export type Difference =
  | { kind: 'path'; path: string; facts: readonly (keyof EntryFacts)[]; kiln?: EntryFacts; buildah?: EntryFacts }
  | { kind: 'config'; field: ConfigField; kiln: unknown; buildah: unknown }
  | { kind: 'history'; field: 'entries' | 'layers' | 'empty_layer'; index?: number; kiln: unknown; buildah: unknown };

/** The config fields compared: RunConfig's, plus the top-level `author` (MAINTAINER). */
export const CONFIG_FIELDS = [
  'Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels',
  'StopSignal', 'Healthcheck', 'Shell', 'OnBuild', 'author',
] as const;
export type ConfigField = (typeof CONFIG_FIELDS)[number];

const FACT_KEYS: readonly (keyof EntryFacts)[] = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'link', 'hardlinks', 'rdev'];

function diffPaths(kiln: PeerImage, buildah: PeerImage): Difference[] {
  const out: Difference[] = [];
  const paths = [...new Set([...kiln.rootfs.keys(), ...buildah.rootfs.keys()])].sort();
  for (const path of paths) {
    const k = kiln.rootfs.get(path);
    const b = buildah.rootfs.get(path);
    if (k === undefined || b === undefined) {
      out.push({ kind: 'path', path, facts: [], ...(k === undefined ? {} : { kiln: k }), ...(b === undefined ? {} : { buildah: b }) });
      continue;
    }
    const facts = FACT_KEYS.filter((key) => !isDeepStrictEqual(k[key], b[key]));
    if (facts.length > 0) out.push({ kind: 'path', path, facts, kiln: k, buildah: b });
  }
  return out;
}

function normalizeHealth(h: HealthConfig): HealthConfig {
  return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== 0 && v !== undefined)) as HealthConfig;
}

/** A config field with "unset" spelled one way: undefined. */
export function configValue(config: ImageConfig, field: ConfigField): unknown {
  const raw: unknown = field === 'author' ? config.author : config.config?.[field as keyof RunConfig];
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (Array.isArray(raw) && raw.length === 0) return undefined;
  if (typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 0) return undefined;
  if (field === 'Healthcheck') return normalizeHealth(raw as HealthConfig);
  return raw;
}

function diffConfig(kiln: PeerImage, buildah: PeerImage): Difference[] {
  const out: Difference[] = [];
  for (const field of CONFIG_FIELDS) {
    const k = configValue(kiln.config, field);
    const b = configValue(buildah.config, field);
    if (!isDeepStrictEqual(k, b)) out.push({ kind: 'config', field, kiln: k, buildah: b });
  }
  return out;
}

/**
 * History: as many entries on both sides (one per base entry and per
 * instruction), as many layers, and the same entries marked empty_layer.
 * (Each side's own consistency — non-empty entries = layers — is checked by
 * {@link historyProblems}.)
 */
function diffHistory(kiln: PeerImage, buildah: PeerImage): Difference[] {
  const out: Difference[] = [];
  const kh = kiln.config.history ?? [];
  const bh = buildah.config.history ?? [];
  if (kh.length !== bh.length) out.push({ kind: 'history', field: 'entries', kiln: kh.length, buildah: bh.length });
  if (kiln.layerCount !== buildah.layerCount) out.push({ kind: 'history', field: 'layers', kiln: kiln.layerCount, buildah: buildah.layerCount });
  if (kh.length === bh.length) {
    kh.forEach((entry, index) => {
      const k = entry.empty_layer === true;
      const b = bh[index]!.empty_layer === true;
      if (k !== b) out.push({ kind: 'history', field: 'empty_layer', index, kiln: entry.created_by, buildah: bh[index]!.created_by });
    });
  }
  return out;
}

/** Every difference between the two images, paths first. */
export function compareImages(kiln: PeerImage, buildah: PeerImage): Difference[] {
  return [...diffPaths(kiln, buildah), ...diffConfig(kiln, buildah), ...diffHistory(kiln, buildah)];
}

/** Problems with one image on its own: its non-empty history entries must match its layers and its config's diff_ids. */
export function historyProblems(image: PeerImage): string[] {
  const nonEmpty = (image.config.history ?? []).filter((h) => h.empty_layer !== true).length;
  const problems: string[] = [];
  if (nonEmpty !== image.layerCount) problems.push(`${image.peer}: ${nonEmpty} non-empty history entries for ${image.layerCount} layers`);
  if (image.config.rootfs.diff_ids.length !== image.layerCount) {
    problems.push(`${image.peer}: ${image.config.rootfs.diff_ids.length} diff_ids for ${image.layerCount} layers`);
  }
  return problems;
}

/** One line for a test failure message. */
export function describeDifference(d: Difference): string {
  const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));
  switch (d.kind) {
    case 'path':
      if (d.facts.length === 0) return `${d.path}: only in ${d.kiln === undefined ? 'buildah' : 'kiln'} ${show({ ...(d.kiln ?? d.buildah), mtime: undefined })}`;
      return `${d.path}: ${d.facts.map((f) => `${f} kiln=${show(d.kiln?.[f])} buildah=${show(d.buildah?.[f])}`).join(', ')}`;
    case 'config':
      return `config ${d.field}: kiln=${show(d.kiln)} buildah=${show(d.buildah)}`;
    case 'history':
      return `history ${d.field}${d.index === undefined ? '' : `[${d.index}]`}: kiln=${show(d.kiln)} buildah=${show(d.buildah)}`;
  }
}
