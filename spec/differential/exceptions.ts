/**
 * The differences between kiln and buildah 1.28 that are not kiln's fault:
 * where buildah's behaviour is known to differ from BuildKit's current
 * semantics, which kiln follows (DESIGN.md: "The Dockerfile language is
 * BuildKit's current dockerfile:1 frontend"). Each entry says what buildah
 * does, why kiln does otherwise with the BuildKit (or containers/storage)
 * source that shows it, and matches only the differences that behaviour
 * explains — anything else stays a failure.
 *
 * References are to moby/buildkit at 73ed6825 (2026-08), tonistiigi/fsutil at
 * 6d9dc2eb (2026-07) and containers/storage at 83cf5746 (2025-08).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Difference } from './compare.ts';
import type { PeerImage } from './peers.ts';
import type { EntryFacts } from './rootfs-facts.ts';

/** What a matcher may look at besides the difference itself. */
export interface ExceptionContext {
  dockerfile: string;
  kiln: PeerImage;
  buildah: PeerImage;
}

export type Corpus = 'build' | 'run';

export interface PeerException {
  id: string;
  /** What buildah 1.28 does. */
  buildah: string;
  /** What BuildKit (and so kiln) does instead, and why that is the reference. */
  reason: string;
  /** Where BuildKit's (or buildah's) source shows it. */
  reference: string;
  /** The corpora whose cases show this difference (each must, or the entry is stale). */
  corpora: readonly Corpus[];
  matches(d: Difference, ctx: ExceptionContext): boolean;
}

const isEmptyFile = (f: EntryFacts | undefined): boolean => f?.type === 'file' && f.size === 0;

/** Directories kiln's history says a WORKDIR created: `WORKDIR /a/b` (BuildKit's created_by). */
function workdirs(image: PeerImage): string[] {
  return (image.config.history ?? [])
    .filter((h) => h.empty_layer !== true && h.created_by?.startsWith('WORKDIR /') === true)
    .map((h) => h.created_by!.slice('WORKDIR '.length));
}

/** `/a/b/c` → `/a`, `/a/b`, `/a/b/c` */
const withParents = (path: string): string[] =>
  path.split('/').filter(Boolean).map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}`);

/** Where a symlink at `path` pointing to `link` leads, one level (absolute, or relative to its folder). */
function symlinkTarget(path: string, link: string): string {
  if (link.startsWith('/')) return link;
  const parts = [...path.split('/').slice(0, -1), ...link.split('/')];
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '' && p !== '.') out.push(p);
  }
  return `/${out.join('/')}`;
}

/** EXPOSE keys as BuildKit writes them: ranges expanded, protocol lower-cased. */
function buildkitPorts(keys: readonly string[]): string[] {
  return keys.flatMap((key) => {
    const [ports = '', proto = 'tcp'] = key.split('/');
    const [from, to = from] = ports.split('-').map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, i) => `${from! + i}/${proto.toLowerCase()}`);
  }).sort();
}

/** The octal modes given to --chmod anywhere in the Dockerfile. */
function chmodModes(dockerfile: string): number[] {
  return [...dockerfile.matchAll(/--chmod=([0-7]{3,4})\b/g)].map((m) => parseInt(m[1]!, 8));
}

/** The destinations of the Dockerfile's ADD lines, without a trailing slash (`ADD a.tar /x/` → `/x`). */
function addDestinations(dockerfile: string): string[] {
  return dockerfile.split('\n').filter((line) => /^ADD\s/i.test(line)).map((line) => line.trim().split(/\s+/).at(-1)!.replace(/(.)\/+$/, '$1'));
}

const sortedCopy = (v: unknown): unknown => (Array.isArray(v) ? [...(v as string[])].sort() : v);

export const EXCEPTIONS: readonly PeerException[] = [
  {
    id: 'run-mount-stubs',
    buildah: 'After a RUN it leaves the empty mount points of /etc/hosts, /etc/hostname and /etc/resolv.conf (mode 0755) in the layer.',
    reason: 'BuildKit removes the stubs it created for its mounts once the step ends, so they never reach a layer; kiln writes those files into the sandbox only.',
    reference: 'moby/buildkit executor/stubs.go MountStubsCleaner (used by executor/runcexecutor/executor.go)',
    corpora: ['run'],
    matches: (d) =>
      d.kind === 'path' && d.kiln === undefined && isEmptyFile(d.buildah) &&
      ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'].includes(d.path),
  },
  {
    id: 'workdir-layer',
    buildah: 'WORKDIR only changes the config (an empty_layer history entry); the directory appears only when a later step needs it.',
    reason: 'BuildKit always creates the WORKDIR directory (mkdir -p, 0755, owned by the current USER) and commits that as a layer.',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go dispatchWorkdir (llb.Mkdir, commitToHistory(…, withLayer))',
    corpora: ['build', 'run'],
    matches: (d, { kiln, buildah }) => {
      const dirs = workdirs(kiln);
      if (d.kind === 'history' && d.field === 'empty_layer') return typeof d.kiln === 'string' && d.kiln.startsWith('WORKDIR /');
      if (d.kind === 'history' && d.field === 'layers') {
        const buildahWorkdirLayers = (buildah.config.history ?? []).filter((h) => h.empty_layer !== true && /#\(nop\) WORKDIR /.test(h.created_by ?? '')).length;
        return (d.kiln as number) - (d.buildah as number) === dirs.length - buildahWorkdirLayers;
      }
      if (d.kind === 'path' && d.buildah === undefined && d.kiln?.type === 'dir') return dirs.flatMap(withParents).includes(d.path);
      return false;
    },
  },
  {
    id: 'onbuild-history',
    buildah: 'ONBUILD adds a history entry ("#(nop) ONBUILD …").',
    reason: 'BuildKit only appends the trigger to the config\'s OnBuild; it commits no history entry for it.',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go dispatchOnbuild',
    corpora: ['build'],
    matches: (d, { buildah }) => {
      if (d.kind !== 'history' || d.field !== 'entries') return false;
      const onbuild = (buildah.config.history ?? []).filter((h) => /^\/bin\/sh -c #\(nop\) ONBUILD /.test(h.created_by ?? '')).length;
      return (d.buildah as number) - (d.kiln as number) === onbuild && onbuild > 0;
    },
  },
  {
    id: 'expose-normalized',
    buildah: 'EXPOSE keeps ports as written: "7000-7002/tcp" stays a range, "9000/UDP" keeps its case.',
    reason: 'BuildKit expands a range into single ports and lower-cases the protocol.',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/convert_expose.go (ports = append(…, strconv.Itoa(startPort+i)+"/"+strings.ToLower(proto)))',
    corpora: ['build'],
    matches: (d) =>
      d.kind === 'config' && d.field === 'ExposedPorts' &&
      isDeepStrictEqual(buildkitPorts(Object.keys((d.buildah ?? {}) as object)), Object.keys((d.kiln ?? {}) as object).sort()),
  },
  {
    id: 'shell-form-uses-shell',
    buildah: 'Shell-form CMD and ENTRYPOINT always become ["/bin/sh", "-c", …], whatever SHELL says.',
    reason: 'BuildKit prepends the stage\'s SHELL (default /bin/sh -c) to shell-form CMD and ENTRYPOINT.',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go dispatchCmd/dispatchEntrypoint → withShell',
    corpora: ['build'],
    matches: (d, { kiln }) => {
      if (d.kind !== 'config' || (d.field !== 'Cmd' && d.field !== 'Entrypoint')) return false;
      const b = d.buildah as string[] | undefined;
      const shell = kiln.config.config?.Shell;
      if (b?.length !== 3 || b[0] !== '/bin/sh' || b[1] !== '-c' || shell === undefined) return false;
      return isDeepStrictEqual(d.kiln, [...shell, b[2]]);
    },
  },
  {
    id: 'scratch-workdir',
    buildah: 'A stage FROM scratch has no WorkingDir.',
    reason: 'BuildKit\'s empty image starts with WorkingDir "/".',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/image.go emptyImage (img.Config.WorkingDir = "/")',
    corpora: ['build'],
    matches: (d) => d.kind === 'config' && d.field === 'WorkingDir' && d.kiln === '/' && d.buildah === undefined,
  },
  {
    id: 'env-keeps-position',
    buildah: 'ENV of a variable the image already has moves it to the end of Env.',
    reason: 'BuildKit replaces the value in place, keeping the variable\'s position.',
    reference: 'moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go addEnv',
    corpora: ['build', 'run'],
    matches: (d) => d.kind === 'config' && d.field === 'Env' && isDeepStrictEqual(sortedCopy(d.kiln), sortedCopy(d.buildah)),
  },
  {
    id: 'copy-dest-symlink-followed',
    buildah: 'COPY onto a path that is a symlink replaces the symlink with the file.',
    reason: 'BuildKit resolves the destination inside the root, following symlinks including the last component, and writes the file at the link\'s target.',
    reference: 'tonistiigi/fsutil copy/copy.go Copy (dst, err := fs.RootPath(dstRoot, filepath.Clean(dst)))',
    corpora: ['build'],
    matches: (d, { kiln, buildah }) => {
      if (d.kind !== 'path' || d.kiln === undefined || d.buildah === undefined) return false;
      // The link itself: kiln kept it, and its target holds what buildah put in the link's place.
      if (d.kiln.type === 'symlink' && d.buildah.type === 'file') {
        return kiln.rootfs.get(symlinkTarget(d.path, d.kiln.link!))?.sha256 === d.buildah.sha256;
      }
      // The link's target: kiln wrote the copied file there.
      return [...kiln.rootfs].some(([link, facts]) =>
        facts.type === 'symlink' && symlinkTarget(link, facts.link!) === d.path &&
        buildah.rootfs.get(link)?.type === 'file' && buildah.rootfs.get(link)?.sha256 === d.kiln!.sha256);
    },
  },
  {
    id: 'chmod-created-dirs',
    buildah: 'Directories COPY --chmod creates to hold its destination are made 0755.',
    reason: 'BuildKit creates them with the --chmod mode.',
    reference: 'tonistiigi/fsutil copy/copy.go Copy (MkdirAll(ensureDstPath, *ci.Mode, …)) and prepareTargetDir (MkdirAll(target, *c.mode, …))',
    corpora: ['build'],
    matches: (d, { dockerfile }) =>
      d.kind === 'path' && d.kiln?.type === 'dir' && d.buildah?.type === 'dir' &&
      isDeepStrictEqual(d.facts, ['mode']) && d.buildah.mode === 0o755 && chmodModes(dockerfile).includes(d.kiln.mode),
  },
  {
    id: 'add-archive-dot-entry',
    buildah: 'ADD of a local tar whose first entry is `./` gives the destination directory that entry\'s owner and mode.',
    reason: 'BuildKit creates the destination (0755, the --chown owner) before unpacking, and the unpacker skips a `.` entry when the directory exists.',
    reference: 'moby/buildkit solver/llbsolver/file/unpack.go unpack (copy.MkdirAll(dest, 0755, …)); moby/go-archive archive.go Unpack (if fi.IsDir() && hdr.Name == "." { continue })',
    corpora: ['build'],
    matches: (d, { dockerfile }) =>
      d.kind === 'path' && d.kiln?.type === 'dir' && d.buildah?.type === 'dir' && d.kiln.mode === 0o755 &&
      d.facts.every((f) => f === 'mode' || f === 'uid' || f === 'gid') && addDestinations(dockerfile).includes(d.path),
  },
  {
    id: 'naive-diff-pinned-mtime',
    buildah: 'With the vfs driver a RUN that rewrites a file with the same size and sets its mtime back to the old value is not seen: the layer lacks the new content.',
    reason: 'The vfs driver\'s diff compares stat fields only; BuildKit\'s overlayfs differ sees every file written in the upper directory, and issue 7 requires content to be compared where size and mtime cannot decide.',
    reference: 'containers/storage pkg/archive/changes.go (the walk: "The only time this breaks down is if some code intentionally hides a change by setting back mtime") and changes_unix.go statDifferent',
    corpora: ['run'],
    matches: (d, { kiln }) =>
      d.kind === 'path' && d.kiln !== undefined && d.buildah !== undefined && isDeepStrictEqual(d.facts, ['sha256']) &&
      d.kiln.size === d.buildah.size && d.kiln.mtime === d.buildah.mtime &&
      // Set back on purpose: older than a day before the build, so no file this build wrote plainly qualifies.
      d.kiln.mtime < Date.parse(kiln.config.created ?? '') / 1000 - 86_400,
  },
  {
    id: 'naive-diff-lower-hardlinks',
    buildah: 'With the vfs driver `ln LOWER NEW` in a RUN, LOWER being a file of an earlier layer, leaves LOWER out of the layer and writes NEW as a separate copy.',
    reason: 'statDifferent ignores link counts, so LOWER looks unchanged and NEW cannot be a hardlink within the layer; BuildKit\'s overlayfs differ walks the upper directory, where the copy-up put both names on one inode, and keeps the link (issue 7: hardlinks kept).',
    reference: 'containers/storage pkg/archive/changes_unix.go statDifferent; moby/buildkit util/overlay/overlay_linux.go Changes',
    corpora: ['run'],
    matches: (d) =>
      d.kind === 'path' && isDeepStrictEqual(d.facts, ['hardlinks']) &&
      (d.buildah?.hardlinks ?? []).every((p) => d.kiln?.hardlinks?.includes(p) === true),
  },
];

/** The first exception listed for `corpus` that explains `d`, if any. */
export function explain(d: Difference, ctx: ExceptionContext, corpus: Corpus): PeerException | undefined {
  return EXCEPTIONS.find((e) => e.corpora.includes(corpus) && e.matches(d, ctx));
}
