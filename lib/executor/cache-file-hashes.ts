import { createHash, randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const FORMAT = 'kiln.file-hashes.v1';
/** Past this many entries, a save keeps only those this build used. */
const MAX_ENTRIES = 200_000;
/**
 * Files modified this recently (ns) are hashed but not remembered: another
 * write in the same clock tick would leave their stat as it is. An older
 * mtime is safe: any write moves it to now.
 */
const RACY_NS = 2_000_000_000n;
const CHUNK = 1 << 20;

/** What the index did during one build: how many files it stat'ed, and how many (and how many bytes) it had to read. */
export interface HashCounts {
  stated: number;
  hashed: number;
  hashedBytes: number;
}

/**
 * The sha256 of host files (the build context), remembered across builds in
 * one JSON file under `$KILN_HOME/cache/` and keyed by what `lstat` says of
 * the file: device, inode, size, mtime and ctime in nanoseconds. A rebuild
 * whose context did not change only stats its files; a file whose stat
 * changed in any way (an edit moves mtime and ctime, even when `touch -r`
 * puts mtime back) is read again. Entries for files modified within the
 * last two seconds are not remembered (git's "racily clean" problem: an edit
 * in the same clock tick as the hash could leave the stat unchanged).
 *
 * Not safe against a file replaced while it is read: the stat is taken
 * before and after reading, and the hash is only remembered when both agree.
 */
export class FileHashIndex {
  readonly #path: string | undefined;
  #entries: Map<string, string> | undefined;
  readonly #used = new Set<string>();
  #dirty = false;
  readonly counts: HashCounts = { stated: 0, hashed: 0, hashedBytes: 0 };

  /** `path`: the index file (read on first use; a missing or unreadable one starts empty); undefined: remember nothing across builds. */
  constructor(path: string | undefined) {
    this.#path = path;
  }

  /** The sha256 (hex) of the regular file at `path`; reads it only when its stat is not in the index. */
  hash(path: string): string {
    const entries = this.#load();
    const before = lstatSync(path, { bigint: true });
    this.counts.stated++;
    const key = statKey(before);
    const known = entries.get(key);
    if (known !== undefined) {
      this.#used.add(key);
      return known;
    }
    const hex = hashFile(path);
    this.counts.hashed++;
    this.counts.hashedBytes += Number(before.size);
    const after = lstatSync(path, { bigint: true });
    const now = BigInt(Date.now()) * 1_000_000n;
    if (statKey(after) === key && before.mtimeNs < now - RACY_NS) {
      entries.set(key, hex);
      this.#used.add(key);
      this.#dirty = true;
    }
    return hex;
  }

  /** Writes the index back (atomically: temp file, rename) when this build added to it. Never throws: it is only a cache. */
  save(): void {
    if (!this.#dirty || this.#entries === undefined || this.#path === undefined) return;
    let entries = this.#entries;
    if (entries.size > MAX_ENTRIES) entries = new Map([...entries].filter(([k]) => this.#used.has(k)));
    const tmp = `${this.#path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      mkdirSync(dirname(this.#path), { recursive: true });
      writeFileSync(tmp, JSON.stringify({ format: FORMAT, entries: Object.fromEntries(entries) }));
      renameSync(tmp, this.#path);
      this.#dirty = false;
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  #load(): Map<string, string> {
    if (this.#entries !== undefined) return this.#entries;
    this.#entries = new Map();
    if (this.#path === undefined) return this.#entries;
    try {
      const doc = JSON.parse(readFileSync(this.#path, 'utf8')) as { format?: unknown; entries?: unknown };
      if (doc.format === FORMAT && typeof doc.entries === 'object' && doc.entries !== null) {
        for (const [k, v] of Object.entries(doc.entries)) if (typeof v === 'string' && /^[a-f0-9]{64}$/.test(v)) this.#entries.set(k, v);
      }
    } catch {
      // missing or damaged: start again (it is only a cache)
    }
    return this.#entries;
  }
}

function statKey(st: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** sha256 of a file in 1 MiB reads (sync: many small context files, DESIGN.md). */
function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
