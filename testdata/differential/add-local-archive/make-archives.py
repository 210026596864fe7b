#!/usr/bin/env python3
"""Writes the archives of the add-local-archive case: archive.tar.gz (and the
same bytes as disguised.bin), plain.tar, etc-overlay.tar, dot-root.tar and
notes.txt.gz (gzip, but not of a tar). The same bytes on every run (fixed
mtimes, owners and gzip headers)."""
import gzip
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000


def entry(tf, name, kind=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=0, link=''):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def archive():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        entry(tf, 'app', tarfile.DIRTYPE, mode=0o755)
        entry(tf, 'app/bin', tarfile.DIRTYPE, mode=0o750, uid=1, gid=1)
        entry(tf, 'app/bin/tool', data=b'#!/bin/sh\necho tool\n', mode=0o755, uid=1, gid=1)
        entry(tf, 'app/config.ini', data=b'[main]\nkey=value\n', mode=0o600, uid=1000, gid=1000)
        entry(tf, 'app/hard', tarfile.LNKTYPE, mode=0o600, uid=1000, gid=1000, link='app/config.ini')
        entry(tf, 'app/link', tarfile.SYMTYPE, mode=0o777, link='bin/tool')
        entry(tf, 'app/suid', data=b'suid\n', mode=0o4755)
        entry(tf, 'top.txt', data=b'top\n')
    return buf.getvalue()


def etc_overlay():
    """Entries for directories the base already has, with other owners and modes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        entry(tf, 'etc', tarfile.DIRTYPE, mode=0o750, uid=0, gid=4)
        entry(tf, 'etc/added.conf', data=b'added\n', mode=0o640, gid=4)
        entry(tf, 'tmp', tarfile.DIRTYPE, mode=0o1777)
        entry(tf, 'usr/local', tarfile.DIRTYPE, mode=0o700, uid=1, gid=1)
    return buf.getvalue()


def dot_root():
    """A tar whose first entry is ./ itself, with its own owner and mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        entry(tf, '.', tarfile.DIRTYPE, mode=0o700, uid=5, gid=5)
        entry(tf, './inside', data=b'inside\n', uid=5, gid=5)
    return buf.getvalue()


def gzipped(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename='', fileobj=buf, mode='wb', mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def main():
    outputs = {
        'etc-overlay.tar': etc_overlay(),
        'dot-root.tar': dot_root(),
        'plain.tar': archive(),
        'archive.tar.gz': gzipped(archive()),
        'disguised.bin': gzipped(archive()),
        'notes.txt.gz': gzipped(b'notes, not a tar\n'),
    }
    for name, data in outputs.items():
        with open(os.path.join(HERE, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
