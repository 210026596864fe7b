#!/bin/sh
# Regenerates the tar fixtures in this folder with GNU tar and Python's
# tarfile (see README.md). Needs root (chown, mknod), GNU tar >= 1.28,
# python3 and a filesystem with user xattrs. Output is reproducible: fixed
# mtimes, owners, sort order and PAX header names.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

long_dir=$(printf 'd%.0s' $(seq 120))
long_file=$(printf 'f%.0s' $(seq 110))
long_target=$(printf 't%.0s' $(seq 150))

# The full tree: every entry type, long names, a non-ASCII name, an xattr.
mkdir -p full/dir/sub "full/dir/$long_dir"
printf 'hello\n' > full/dir/file.txt
printf '#!/bin/sh\necho hi\n' > full/dir/exec.sh
chmod 0755 full/dir/exec.sh
chmod 0750 full/dir/sub
head -c 1300 /dev/zero | tr '\0' 'z' > full/dir/sub/big.bin
printf 'long\n' > "full/dir/$long_dir/$long_file"
printf 'unicode\n' > 'full/dir/ünï.txt'
ln -s file.txt full/dir/link
ln -s "$long_target" full/dir/longlink
ln full/dir/file.txt full/dir/hard
mkfifo full/dir/fifo
mknod full/dir/null c 1 3
mknod full/dir/blk b 7 0
chown -R 1234:5678 full/dir
chown 0:0 full/dir/exec.sh
python3 -c "import os; os.setxattr('full/dir/file.txt', 'user.kiln', b'v\x00\xff')"
find full -exec touch -h -d @1700000000 {} +
touch -d @1700000000.25 full/dir/exec.sh

# ustar and v7 hold neither names over 256 (v7: 100) bytes nor long targets.
mkdir short
cp -a full/dir short/dir
rm -rf "short/dir/$long_dir" short/dir/longlink
mkdir v7
cp -a short/dir v7/dir
rm -f v7/dir/fifo v7/dir/null v7/dir/blk
touch -h -d @1700000000 short/dir v7/dir

common='--sort=name --numeric-owner'
pax_names='--pax-option=exthdr.name=%d/PaxHeaders/%f,globexthdr.name=PaxHeaders/global,delete=atime,delete=ctime'
tar $common --format=gnu -cf "$here/gnu.tar" -C full dir
tar $common --format=pax --xattrs $pax_names -cf "$here/pax.tar" -C full dir
tar $common --format=ustar -cf "$here/ustar.tar" -C short dir
tar $common --format=v7 -cf "$here/v7.tar" -C v7 dir

# Numbers beyond ustar's octal fields: base-256 (gnu) and PAX records (pax).
mkdir -p big/big
printf 'x\n' > big/big/uid
printf 'y\n' > big/big/future
printf 'z\n' > big/big/past
chown -R 3000000:3000001 big/big
touch -d @1700000000 big/big/uid big/big
touch -d @10000000000 big/big/future
touch -d @-1000 big/big/past
tar $common --format=gnu -cf "$here/gnu-base256.tar" -C big big
tar $common --format=pax $pax_names -cf "$here/pax-big.tar" -C big big

# Pre-POSIX directories: a regular-file type flag and a trailing slash.
python3 - "$here/v7.tar" "$here/v7-slash-dir.tar" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
assert data[0:4] == b'dir/' and data[156:157] == b'5'
data[156] = 0
data[148:156] = b' ' * 8
data[148:156] = b'%06o\0 ' % sum(data[0:512])
open(sys.argv[2], 'wb').write(data)
PY

# Python's PAX writer: a global header, a local override, fractional and
# negative mtimes, a raw xattr record.
python3 - "$here/python-pax.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT,
                  pax_headers={'uid': '4242', 'comment': 'kiln fixture'}) as t:
    def add(name, data=None, **kw):
        info = tarfile.TarInfo(name)
        info.mtime = 1700000000
        info.mode = 0o644
        for k, v in kw.items():
            setattr(info, k, v)
        if data is not None:
            info.size = len(data)
        t.addfile(info, io.BytesIO(data) if data is not None else None)
    add('global-uid.txt', b'a\n')
    info = tarfile.TarInfo('local-uid.txt')
    info.mtime = 1700000000
    info.size = 2
    info.pax_headers = {'uid': '7', 'SCHILY.xattr.user.bin': 'x\udcff\x00y'}
    t.addfile(info, io.BytesIO(b'b\n'))
    add('fraction.txt', b'c\n', mtime=1700000000.75)
    add('negative.txt', b'd\n', mtime=-1.5)
    add('./dot/slash/', type=tarfile.DIRTYPE, mode=0o755)
PY
