# The busybox base image (also tagged alpine:latest): a root filesystem
# assembled by make-base-images.ts from Debian's busybox-static.
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
