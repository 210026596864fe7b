#!/bin/sh
# The chapter's "builder pattern" script, with kiln in place of docker:
# `kiln cp` does what `docker create` + `docker cp` + `docker rm` did.
set -e
KILN=${KILN:-kiln}
echo Building go/helloworld:build
$KILN build -t go/helloworld:build . -f Dockerfile.build
$KILN cp go/helloworld:build:/go/src/github.com/go/helloworld/app ./app
echo Building go/helloworld:2
$KILN build --no-cache -t go/helloworld:2 . -f Dockerfile.copy
rm ./app
