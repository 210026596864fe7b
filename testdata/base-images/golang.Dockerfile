# The Go base image (tagged golang:1.9-alpine): the busybox tree plus
# glibc's loader and libc.so.6 and Debian's Go 1.19 at /usr/local/go,
# assembled by make-base-images.ts. GO111MODULE=off makes Go 1.19 build
# GOPATH layouts without go.mod, as the Go 1.9 the tag names did.
FROM scratch
ARG GOLANG_VERSION
ADD rootfs.tar /
ENV GOLANG_VERSION=${GOLANG_VERSION} \
    GOROOT=/usr/local/go \
    GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root \
    GOCACHE=/tmp/.gocache \
    CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false \
    GO111MODULE=off
WORKDIR /go
CMD ["sh"]
