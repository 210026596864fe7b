/**
 * Test kit: tar archives written by Python's tarfile (an independent
 * writer that stores names exactly as given: `../x`, `/abs`, duplicates),
 * so apply-layer tests do not depend on kiln's own tar writer.
 */
import { spawnSync } from 'node:child_process';

export interface PyEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  /** File content (utf8). */
  text?: string;
  /** File content of this many bytes (a repeating pattern), instead of `text`. */
  bytes?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, string>;
  major?: number;
  minor?: number;
}

const PY_TAR = `
import base64, io, json, sys, tarfile
def tar(spec):
  fmt = {'pax': tarfile.PAX_FORMAT, 'gnu': tarfile.GNU_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[spec['format']]
  out = io.BytesIO()
  types = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
           'fifo': tarfile.FIFOTYPE, 'char': tarfile.CHRTYPE, 'block': tarfile.BLKTYPE}
  with tarfile.open(fileobj=out, mode='w', format=fmt) as t:
      for e in spec['entries']:
          i = tarfile.TarInfo(e['name'])
          i.type = types[e.get('type', 'file')]
          i.mode = e.get('mode', 0o755 if e.get('type') == 'dir' else 0o644)
          i.uid = e.get('uid', 0); i.gid = e.get('gid', 0); i.mtime = e.get('mtime', 1600000000)
          i.linkname = e.get('linkname', '')
          i.devmajor = e.get('major', 0); i.devminor = e.get('minor', 0)
          if e.get('xattrs'):
              i.pax_headers = {'SCHILY.xattr.' + k: v for k, v in e['xattrs'].items()}
          data = b''
          if i.type == tarfile.REGTYPE:
              data = e['text'].encode() if 'text' in e else bytes((j * 7 + 3) % 251 for j in range(e.get('bytes', 0)))
          i.size = len(data)
          t.addfile(i, io.BytesIO(data))
  return out.getvalue()
`;
const PY = `${PY_TAR}
sys.stdout.buffer.write(tar(json.loads(sys.stdin.read())))
`;
const PY_MANY = `${PY_TAR}
sys.stdout.write(json.dumps([base64.b64encode(tar(s)).decode() for s in json.loads(sys.stdin.read())]))
`;

/** An uncompressed tar of `entries`, in the given order, made by Python's tarfile. */
export function pyTar(entries: readonly PyEntry[], format: 'pax' | 'gnu' | 'ustar' = 'pax'): Buffer {
  const r = spawnSync('python3', ['-c', PY], { input: JSON.stringify({ format, entries }), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`python tarfile failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Several tars at once (one Python process): one per entry list, in the given order. */
export function pyTars(layers: readonly (readonly PyEntry[])[], format: 'pax' | 'gnu' | 'ustar' = 'pax'): Buffer[] {
  const r = spawnSync('python3', ['-c', PY_MANY], { input: JSON.stringify(layers.map((entries) => ({ format, entries }))), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`python tarfile failed: ${r.stderr.toString()}`);
  return (JSON.parse(r.stdout.toString()) as string[]).map((b) => Buffer.from(b, 'base64'));
}

/** The pattern `bytes: n` stands for, computed here independently of Python. */
export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j++) b[j] = (j * 7 + 3) % 251;
  return b;
}
