import type { Readable } from 'node:stream';

/** Kinds of tar entries kiln reads and writes. */
export type TarEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'character-device'
  | 'block-device'
  | 'fifo';

/**
 * One tar header, normalized. `name` is a relative slash-separated path with
 * no leading `/` or `./` and no trailing `/` (the writer adds the `/` for
 * directories; the reader strips it). `mode` holds permission and special
 * bits only (07777). `mtime` is whole seconds since the epoch.
 */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Bytes of content; 0 for everything but regular files. */
  size: number;
  /** Target of a symlink, or the path (same form as `name`) of a hardlink's target. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (`SCHILY.xattr.<key>`); values are raw bytes. */
  xattrs?: Record<string, Buffer>;
}

/** An entry to write: a header plus, for regular files, a lazily opened body of exactly `size` bytes. */
export interface TarWriteEntry extends TarHeader {
  body?: () => Readable | Buffer;
}
