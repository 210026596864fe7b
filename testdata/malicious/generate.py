#!/usr/bin/env python3
"""Writes kiln's malicious corpus: layers that try to escape the root or
exhaust the machine, and build contexts that try to read outside themselves.

    python3 generate.py                       # the small layers, into layers/ here (committed)
    python3 generate.py --out DIR --test-time # the same, plus the large bomb and the contexts

The layers are deterministic (fixed mtimes, owners, no gzip timestamp), so
running the script again gives the committed bytes. The gzip bomb (256 MiB
of zeros) and the build contexts are made at test time only: the bomb is
large, and the contexts hold symlinks whose meaning depends on where they
are (one points at an absolute canary path given with --canary).
"""
import argparse, gzip, io, os, tarfile

MTIME = 1600000000
ESCAPE = 'kiln-malicious-escape'


def info(name, type_=tarfile.REGTYPE, linkname='', size=0, mode=None):
    i = tarfile.TarInfo(name)
    i.type = type_
    i.linkname = linkname
    i.size = size
    i.mode = mode if mode is not None else (0o755 if type_ == tarfile.DIRTYPE else 0o644)
    i.mtime = MTIME
    i.uid = i.gid = 0
    i.uname = i.gname = ''
    return i


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, value): kind file (value: bytes), dir, symlink/hardlink (value: target), raw (value: pax headers dict + data)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=fmt) as t:
        for name, kind, value in entries:
            if kind == 'file':
                t.addfile(info(name, size=len(value)), io.BytesIO(value))
            elif kind == 'dir':
                t.addfile(info(name, tarfile.DIRTYPE))
            elif kind == 'symlink':
                t.addfile(info(name, tarfile.SYMTYPE, value, mode=0o777))
            elif kind == 'hardlink':
                t.addfile(info(name, tarfile.LNKTYPE, value))
            elif kind == 'pax':
                headers, data = value
                i = info(name, size=len(data))
                i.pax_headers = headers
                t.addfile(i, io.BytesIO(data))
    return out.getvalue()


def header_block(name, size_field, typeflag=b'0'):
    """A ustar header whose size field is written as given (bytes), with a correct checksum."""
    b = bytearray(512)
    b[0:len(name)] = name
    b[100:108] = b'0000644\0'
    b[108:116] = b'0000000\0'
    b[116:124] = b'0000000\0'
    b[124:136] = size_field
    b[136:148] = b'%011o\0' % MTIME
    b[156:157] = typeflag
    b[257:265] = b'ustar\x0000'
    b[148:156] = b' ' * 8
    b[148:156] = b'%06o\0 ' % sum(b)
    return bytes(b)


def layers():
    deep = '/'.join(['d'] * 10000) + '/file'
    chain = '/'.join(['c'] * 900)
    bogus = header_block(b'claims-8-GiB', b'77777777777\0') + b'only a few bytes'.ljust(512, b'\0')
    huge = header_block(b'claims-1-PiB', b'\x80' + (2 ** 50).to_bytes(11, 'big')) + b'\0' * 1024
    text = header_block(b'size-not-octal', b'12x4\0      \0') + b'\0' * 1024
    badsum = bytearray(header_block(b'bad-checksum', b'00000000004\0') + b'abcd'.ljust(512, b'\0') + b'\0' * 1024)
    badsum[148:156] = b'0000001\0'
    return {
        'dotdot.tar': tar([('../../../../../../tmp/' + ESCAPE, 'file', b'dotdot'), ('a/../../' + ESCAPE + '-2', 'file', b'dotdot 2')]),
        'absolute.tar': tar([('/tmp/' + ESCAPE, 'file', b'absolute'), ('/etc/' + ESCAPE, 'file', b'absolute etc')]),
        'symlink-etc.tar': tar([
            ('evil', 'symlink', '/etc'),
            ('evil/passwd', 'file', b'root::0:0:owned:/:/bin/sh\n'),
            ('up', 'symlink', '../../../../../..'),
            ('up/' + ESCAPE, 'file', b'through a relative link'),
        ]),
        'hardlink-outside.tar': tar([('h', 'hardlink', '../../../../../etc/passwd')]),
        'hardlink-outside-existing.tar': tar([('etc/passwd', 'file', b'the image\'s own passwd\n'), ('h', 'hardlink', '../../../../../etc/passwd')]),
        'symlink-loop.tar': tar([('a', 'symlink', 'b'), ('b', 'symlink', 'a'), ('a/x', 'file', b'never written')]),
        'symlink-self.tar': tar([('loop', 'symlink', 'loop'), ('loop2', 'symlink', 'loop2/x'), ('abs', 'symlink', '/abs')]),
        'deep-chain.tar': tar([(deep, 'file', b'10,000 levels down')]),
        'symlink-deep.tar': tar([('s', 'symlink', chain), ('s/t', 'symlink', chain), ('s/t/f', 'file', b'1,800 real levels down')]),
        'long-name.tar': tar([('n' * 5000, 'file', b'a 5,000-byte name')]),
        'long-link.tar': tar([('l', 'symlink', 't' * 5000)]),
        'duplicates.tar': tar([('dup', 'file', b'first'), ('dup', 'dir', None), ('dup/inner', 'file', b'inner'), ('dup', 'file', b'third')]),
        'bogus-size.tar': bogus,
        'bogus-size-huge.tar': huge,
        'bogus-size-text.tar': text,
        'bad-checksum.tar': bytes(badsum),
        'whiteout-dotdot.tar': tar([('etc/.wh...', 'file', b'')]),
        'whiteout-escape.tar': tar([('../../../.wh.' + ESCAPE, 'file', b''), ('../../.wh..wh..opq', 'file', b'')]),
        'sparse-bomb.tar': tar([('sparse', 'pax', ({'GNU.sparse.map': '0,1', 'GNU.sparse.size': str(2 ** 40)}, b'z'))]),
    }


def bomb():
    """256 MiB of zeros in one file, gzip -9: about 250 KiB on disk."""
    out = io.BytesIO()
    size = 256 << 20
    with gzip.GzipFile(fileobj=out, mode='wb', compresslevel=9, mtime=0) as z:
        z.write(tar_header_only('zeros', size))
        chunk = b'\0' * (1 << 20)
        for _ in range(size >> 20):
            z.write(chunk)
        z.write(b'\0' * 1024)
    return out.getvalue()


def tar_header_only(name, size):
    i = info(name, size=size)
    return i.tobuf(tarfile.PAX_FORMAT)


def deep_dirs(base, levels):
    """A chain of `levels` directories, made with openat so no path exceeds PATH_MAX."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir('d', dir_fd=fd)
        nfd = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)


def contexts(out, canary, small):
    root = os.path.join(out, 'contexts')
    outside = os.path.join(out, 'outside')
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, 'secret'), 'w') as f:
        f.write('outside the context\n')

    def ctx(name, dockerfile, links=(), files=()):
        d = os.path.join(root, name)
        os.makedirs(d)
        with open(os.path.join(d, 'Dockerfile'), 'w') as f:
            f.write('FROM scratch\n' + dockerfile)
        for path, target in links:
            os.symlink(target, os.path.join(d, path))
        for path, data in files:
            with open(os.path.join(d, path), 'wb') as f:
                f.write(data)
        return d

    ctx('escape-relative', 'COPY link/secret /x\n', links=[('link', '../../outside')])
    ctx('escape-absolute', 'COPY abs/passwd /x\n', links=[('abs', '/etc')])
    ctx('canary-link', 'COPY canary /c\n', links=[('canary', canary)])
    ctx('copy-all', 'COPY . /\n', links=[('abs', '/etc'), ('rel', '../../outside'), ('canary', canary)], files=[('real', b'real file\n')])
    ctx('loop', 'COPY loop/x /\n', links=[('loop', 'loop')])
    d = ctx('deep', 'COPY . /\n')
    deep_dirs(d, 10000)
    ctx('add-dotdot', 'ADD evil.tar /\n', files=[('evil.tar', small['dotdot.tar'])])
    ctx('add-symlink-etc', 'ADD evil.tar /\n', files=[('evil.tar', small['symlink-etc.tar'])])


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', default=os.path.dirname(os.path.abspath(__file__)))
    p.add_argument('--test-time', action='store_true', help='also write the gzip bomb and the build contexts')
    p.add_argument('--canary', default='/nonexistent/canary', help='absolute path a context symlink points at')
    a = p.parse_args()
    small = layers()
    os.makedirs(os.path.join(a.out, 'layers'), exist_ok=True)
    for name, data in small.items():
        with open(os.path.join(a.out, 'layers', name), 'wb') as f:
            f.write(data)
    if a.test_time:
        with open(os.path.join(a.out, 'layers', 'bomb.tar.gz'), 'wb') as f:
            f.write(bomb())
        contexts(a.out, a.canary, small)


if __name__ == '__main__':
    main()
