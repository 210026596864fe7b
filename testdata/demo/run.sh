#!/usr/bin/env bash
# make demo: build the README's example end to end, offline, and show the result.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
demo=${DEMO_DIR:-/tmp/kiln-demo}
rm -rf "$demo" && mkdir -p "$demo"
export KILN_HOME="$demo/store"
kiln() { node "$top/cli/kiln.js" "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd "$top/testdata/demo/hello-site"
step kiln build -t hello-site:1 -o type=oci,dest="$demo/hello-site.oci.tar" .
kiln build -t hello-site:1 -o type=oci,dest="$demo/hello-site.oci.tar" .

step kiln images
kiln images

step kiln inspect hello-site:1
kiln inspect hello-site:1

step skopeo inspect oci-archive:"$demo/hello-site.oci.tar"
skopeo inspect oci-archive:"$demo/hello-site.oci.tar"

step umoci unpack --image "$KILN_HOME:docker.io/library/hello-site:1" "$demo/bundle"
umoci unpack --image "$KILN_HOME:docker.io/library/hello-site:1" "$demo/bundle" >/dev/null
(cd "$demo/bundle/rootfs" && find . -mindepth 1 -printf '%M %u:%g %6s  %p\n' | sort -k4)
