import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The shape of a generated build context. */
export interface ContextSpec {
  smallFiles: number;
  /** Small file sizes are uniform in [minSmall, maxSmall] bytes. */
  minSmall: number;
  maxSmall: number;
  largeFiles: number;
  largeSize: number;
  seed: string;
}

export interface ContextStats {
  files: number;
  dirs: number;
  /** Sum of the files' sizes. */
  bytes: number;
}

// Every path gets this mtime, so tar streams of the context do not depend on when it was generated.
const MTIME = 1_704_067_200; // 2024-01-01T00:00:00Z
const BLOCK = 64 * 1024;
const WORDS = (
  'const let function return import export from async await if else for while of in new this class ' +
  'extends type interface string number boolean null undefined true false throw try catch finally ' +
  'switch case default break continue yield static public private readonly Promise Buffer stream ' +
  'digest layer image config manifest index blob path node tree entry size mode write read ' +
  'open close flush chmod'
).split(' ');
if (WORDS.length !== 64) throw new Error(`make-context: WORDS must hold 64 words, not ${WORDS.length}`);

/**
 * A deterministic byte source: the AES-256-CTR keystream under sha256(seed).
 * AES is fixed by its standard, so the same seed gives the same bytes on any
 * Node and machine, and it runs at memory speed.
 */
class KeyStream {
  private readonly cipher;
  private pool: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(seed: string) {
    const key = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  byte(): number {
    if (this.at === this.pool.length) {
      this.pool = this.bytes(BLOCK);
      this.at = 0;
    }
    return this.pool[this.at++]!;
  }

  /** A uniform integer in [lo, hi] (modulo bias is irrelevant here). */
  int(lo: number, hi: number): number {
    const r = ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
    return lo + (r % (hi - lo + 1));
  }

  /** `n` bytes of source-code-like text: words from a 64-word list, some lines. Compresses about 3:1 with gzip. */
  text(n: number): Buffer {
    const parts: string[] = [];
    let len = 0;
    while (len < n) {
      const b = this.byte();
      const w = WORDS[b & 63]!;
      parts.push(w, (b & 0xc0) === 0xc0 ? '\n' : ' ');
      len += w.length + 1;
    }
    return Buffer.from(parts.join(''), 'latin1').subarray(0, n);
  }
}

/**
 * Writes a build context into `dir` (which must not exist): `smallFiles`
 * text files in nested directories one to three levels deep, and
 * `largeFiles` files of `largeSize` bytes whose 64 KiB blocks are each
 * either random (incompressible) or text, half and half. Everything is a
 * function of `spec`, mtimes included.
 */
export function makeContext(dir: string, spec: ContextSpec): ContextStats {
  const ks = new KeyStream(spec.seed);
  const dirs = new Set<string>([dir]);
  let bytes = 0;
  const files: string[] = [];
  mkdirSync(dir);
  for (let i = 0; i < spec.smallFiles; i++) {
    const depth = ks.int(1, 3);
    let parent = dir;
    for (let d = 0; d < depth; d++) {
      parent = join(parent, `${['pkg', 'mod', 'sub'][d]}${ks.int(0, 9)}`);
      if (!dirs.has(parent)) {
        mkdirSync(parent);
        dirs.add(parent);
      }
    }
    const size = ks.int(spec.minSmall, spec.maxSmall);
    const file = join(parent, `f${String(i).padStart(5, '0')}.txt`);
    writeFileSync(file, ks.text(size));
    files.push(file);
    bytes += size;
  }
  const assets = join(dir, 'assets');
  if (spec.largeFiles > 0) {
    mkdirSync(assets);
    dirs.add(assets);
  }
  for (let i = 0; i < spec.largeFiles; i++) {
    const file = join(assets, `blob${i}.bin`);
    writeLarge(file, spec.largeSize, ks);
    files.push(file);
    bytes += spec.largeSize;
  }
  // After all creation: creating an entry changes its directory's mtime; setting times does not.
  for (const p of [...files, ...dirs]) utimesSync(p, MTIME, MTIME);
  return { files: files.length, dirs: dirs.size, bytes };
}

function writeLarge(file: string, size: number, ks: KeyStream): void {
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(BLOCK, size - done);
      writeSync(fd, ks.byte() < 128 ? ks.bytes(n) : ks.text(n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}
