#!/usr/bin/env bash
# make demo: the README's example end to end, offline — base images built
# from Debian packages, then go/helloworld three ways (Docker's multi-stage
# chapter), each run, ending with the kiln images table.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
demo=${DEMO_DIR:-/tmp/kiln-demo}
rm -rf "$demo" && mkdir -p "$demo"
export KILN_HOME="$demo/store"
export KILN="node $top/cli/kiln.js"
kiln() { node "$top/cli/kiln.js" "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "make base images (busybox, golang) from Debian packages, offline"
node --import tsx "$top/testdata/base-images/make-base-images.ts" --home "$KILN_HOME"

cp -r "$top/testdata/seed" "$demo/seed" && cd "$demo/seed"

step kiln build -t go/helloworld:1 -f Dockerfile.one .
kiln build -t go/helloworld:1 -f Dockerfile.one . 2>&1 | grep -v '^  layer'
step kiln run go/helloworld:1
kiln run go/helloworld:1

step sh build.sh
sh build.sh 2>&1 | grep -v '^  layer'
step kiln run go/helloworld:2
kiln run go/helloworld:2

step kiln build -t go/helloworld:3 .
kiln build -t go/helloworld:3 . 2>&1 | grep -v '^  layer'
step kiln run go/helloworld:3
kiln run go/helloworld:3

step kiln images
kiln images
