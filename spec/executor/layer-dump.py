#!/usr/bin/env python3
"""Independent reader of OCI layer tars for kiln's executor tests.

Usage: layer-dump.py LAYER.tar...  (uncompressed layers, bottom first)
Prints JSON: {"layers": [[entry...]...], "fs": {path: entry}} where "fs" is
the root filesystem after applying the layers in order with the OCI
image-spec layer.md rules (.wh.<name> deletes, .wh..wh..opq empties a
directory, a non-directory replaces whatever was there).
"""
import json
import sys
import tarfile

KINDS = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.FIFOTYPE: "fifo",
    tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block",
}


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def entry(tf, m):
    e = {
        "name": norm(m.name), "type": KINDS.get(m.type, repr(m.type)), "mode": m.mode,
        "uid": m.uid, "gid": m.gid, "mtime": m.mtime, "size": m.size,
    }
    if m.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        e["linkname"] = m.linkname
    if m.isreg():
        e["text"] = tf.extractfile(m).read().decode("utf-8", "replace")
    if m.ischr() or m.isblk():
        e["dev"] = [m.devmajor, m.devminor]
    return e


def drop(fs, path):
    for k in [k for k in fs if k == path or k.startswith(path + "/")]:
        del fs[k]


def main():
    layers, fs = [], {}
    for path in sys.argv[1:]:
        with tarfile.open(path, "r:") as tf:
            entries = [entry(tf, m) for m in tf.getmembers()]
        layers.append(entries)
        for e in entries:
            name = e["name"]
            parent, _, base = name.rpartition("/")
            if base == ".wh..wh..opq":
                for k in [k for k in fs if parent == "" or k.startswith(parent + "/")]:
                    del fs[k]
            elif base.startswith(".wh."):
                drop(fs, (parent + "/" if parent else "") + base[4:])
            else:
                if e["type"] != "dir" or fs.get(name, {}).get("type") != "dir":
                    drop(fs, name)
                fs[name] = e
    json.dump({"layers": layers, "fs": fs}, sys.stdout)


main()
