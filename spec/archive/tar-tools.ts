/**
 * Test helpers for spec/archive: run the independent tools (python3's
 * tarfile, GNU tar) and collect kiln's own streams.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readTar, type TarHeader } from '../../lib/archive/index.ts';

export const FIXTURES = new URL('../../testdata/archive/foreign-tars/', import.meta.url).pathname;

/** Runs a command; returns stdout, throws with stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { input?: Buffer; cwd?: string } = {}): Buffer {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-archive-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

/** One member as Python's tarfile sees it (PAX values as hex of their raw bytes). */
export interface PyMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  pax: [string, string][];
  sha256?: string;
  offset: number;
  offset_data: number;
}

const PY_LIST = `
import hashlib, json, math, sys, tarfile
out = []
with tarfile.open(sys.argv[1], 'r:') as t:
    for m in t:
        e = dict(name=m.name, type=m.type.decode('latin1'), mode=m.mode, uid=m.uid, gid=m.gid,
                 mtime=math.floor(m.mtime), size=m.size, linkname=m.linkname, devmajor=m.devmajor,
                 devminor=m.devminor, uname=m.uname, gname=m.gname, offset=m.offset, offset_data=m.offset_data,
                 pax=[[k, v.encode('utf-8', 'surrogateescape').hex()] for k, v in m.pax_headers.items()])
        if m.isfile():
            e['sha256'] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
        out.append(e)
    end = t.offset
json.dump(dict(members=out, end=end), sys.stdout)
`;

/** Lists a tar file with python3's tarfile; `end` is where the end-of-archive marker starts. */
export function pythonList(tarPath: string): { members: PyMember[]; end: number } {
  return JSON.parse(run('python3', ['-c', PY_LIST, tarPath]).toString('utf8')) as { members: PyMember[]; end: number };
}

/** What kiln's reader reports for one entry, with its body's sha256 and length. */
export interface ReadEntry {
  header: TarHeader;
  body: Buffer;
}

/** Reads a whole archive with readTar, collecting every body. */
export async function readAll(input: Readable | Buffer): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  const stream = Buffer.isBuffer(input) ? Readable.from([input]) : input;
  await readTar(stream, async (header, body) => {
    out.push({ header, body: await collect(body) });
  });
  return out;
}

/** Splits a buffer into chunks of irregular sizes, to exercise chunk boundaries. */
export function chunked(data: Buffer, sizes: readonly number[] = [1, 7, 511, 513, 4096, 65_537]): Readable {
  const parts: Buffer[] = [];
  for (let pos = 0, i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    parts.push(data.subarray(pos, pos + n));
    pos += n;
  }
  // Object mode keeps each chunk whole instead of merging them into the buffer.
  return Readable.from(parts);
}
