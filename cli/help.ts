/** Help texts, kept apart from the commands so `--help` loads nothing else. */

export const BUILD_HELP = `Usage:  kiln build [OPTIONS] PATH

Start a build

Options:
      --build-arg stringArray     Set build-time variables
      --check-reproducible        Build twice in temporary stores (another umask, TZ, locale, path, mtimes) and compare every digest
      --compression string        Layer compression: gzip (default), zstd or uncompressed
      --compression-level int     gzip 0-9 (default 6), zstd 1-22 (default 3)
  -f, --file string               Name of the Dockerfile (default: "PATH/Dockerfile")
  -o, --output stringArray        Output destination (format: "type=local,dest=path")
                                  types: oci (dest=DIR with tar=false, else a tar file),
                                  docker (docker-archive tar for 'docker load'),
                                  local (the root filesystem in a directory),
                                  tar (the root filesystem as a tar file),
                                  image (name=REF[,push=true]: a name in the local store, pushed),
                                  registry (name=REF: shorthand for type=image,push=true)
      --cache-from stringArray    Use a build cache exported with --cache-to (same forms, src=DIR for
                                  type=local; tried in order; one that cannot be read is a warning)
      --cache-to stringArray      Export the build cache: type=registry,ref=REF[,mode=min|max] or
                                  type=local,dest=DIR[,tag=TAG][,mode=min|max] (a bare REF is a registry);
                                  min (default): the target stage's steps; max: every stage's
      --iidfile string            Write the image ID to the file
      --metadata-file string      Write build result metadata to the file (buildx's keys)
      --no-cache                  Do not use the build cache: run every step (the cache is still written)
      --no-cache-filter stringArray  Do not use the build cache for these stages (names or indexes)
      --oci-mediatypes bool       OCI media types (default true); false writes Docker schema2
      --platform stringArray      Target platform(s) (os/arch[/variant]; default: this machine's); several,
                                  comma-separated or repeated, build an image index with one image per
                                  platform (a foreign RUN needs an emulator: kiln binfmt)
      --progress string           auto, plain (a line per event, for CI logs), tty (a live status line) or quiet (default "auto")
      --pull                      Resolve base images against their registry even when the local store has them
      --reproducible              SOURCE_DATE_EPOCH=0 unless an epoch is set
  -q, --quiet                     Suppress the build output and print image ID on success
      --secret stringArray        Secret for RUN --mount=type=secret (format: "id=ID,src=FILE" or "id=ID,env=VAR")
      --push                      Push every -t name to its registry (shorthand for --output=type=registry)
  -t, --tag stringArray           Name and optionally a tag (format: "name:tag")
      --target string             Set the target build stage to build

Registry options: --insecure-registry HOST, --ca-cert FILE, --registry-mirror REG=URL
(also KILN_REGISTRY_MIRRORS), --connect-timeout, --response-timeout, --idle-timeout DURATION
(see 'kiln pull --help'). Base images come from the local store first, then their registry.

Limits (environment): a layer or ADD archive may expand to KILN_MAX_LAYER_SIZE (default 32GiB),
and past KILN_LAYER_RATIO_GRACE (1GiB) to KILN_MAX_LAYER_RATIO (1100) times its compressed
size; paths may be KILN_MAX_PATH_DEPTH (1024) levels deep. Past a limit the build fails with
LAYER_TOO_LARGE, LAYER_RATIO_EXCEEDED, ARCHIVE_TOO_LARGE, ARCHIVE_RATIO_EXCEEDED or PATH_TOO_DEEP.

Every build is also stored in the local image store ($KILN_HOME) under its tags.
SOURCE_DATE_EPOCH (environment or --build-arg) makes the build reproducible.
Steps whose inputs did not change come from the build cache ($KILN_HOME/cache)
and print CACHED; 'kiln prune' clears it.
`;

export const FSCK_HELP = `Usage:  kiln fsck [--repair]

Re-verify the local store ($KILN_HOME): every blob is hashed again, every
image must reach its manifests, config and layers with the sizes its
descriptors say, every build cache entry must parse and find its layer.
Prints one line per problem; exit status 1 when there are problems.

Options:
      --repair   Remove what is broken: corrupt blobs, images that cannot be
                 read whole (their tags), cache entries that can never hit.
                 A later build or pull makes them again.
`;

export const RMI_HELP = `Usage:  kiln rmi [OPTIONS] IMAGE [IMAGE...]

Remove one or more images from the local store: a name removes that tag, an
image ID removes the image (every tag, with -f). Space is freed by 'kiln prune'.

Options:
  -f, --force   Remove an image ID even when several tags name it
`;

export const PRUNE_HELP = `Usage:  kiln prune [OPTIONS]

Remove untagged images, build cache entries that can no longer be used, and
every blob that neither a tagged image nor the build cache needs; print the
space reclaimed. Do not run it while a build or pull uses the same store.

Options:
  -a, --all     Remove the whole build cache too (entries, the context file-hash
                index, RUN cache mounts)
  -f, --force   Do not prompt for confirmation (kiln never prompts)
`;

export const IMAGES_HELP = `Usage:  kiln images [OPTIONS]

List images in the local store

Options:
  -q, --quiet      Only show image IDs
      --no-trunc   Don't truncate output
`;

export const INSPECT_HELP = `Usage:  kiln inspect [OPTIONS] NAME|ID

Display the configuration of an image in the local store, as JSON

Options:
      --platform string   Of a multi-platform image, the image for this platform (os/arch[/variant];
                          default: this machine's)
`;

export const PARSE_HELP = `Usage:  kiln parse [OPTIONS] FILE

Print a Dockerfile's syntax tree

Options:
      --format string   buildkit (the S-expression dump of BuildKit's parser tests, default) or json (with source ranges)
`;

export const CONTEXT_HELP = `Usage:  kiln context ls [OPTIONS] CONTEXT

List the files of a build context that a build would see, after .dockerignore
(or <Dockerfile>.dockerignore next to the Dockerfile, which takes precedence)

Options:
  -f, --file string   Name of the Dockerfile (default: "CONTEXT/Dockerfile")
`;

const REGISTRY_OPTIONS = `      --ca-cert stringArray             Trust this CA certificate (PEM file) for registries
      --connect-timeout duration        Give up connecting (TCP and TLS) after this long
                                        (default 30s; also KILN_CONNECT_TIMEOUT)
      --idle-timeout duration           Give up on a body that sends no data for this long
                                        (default 60s; also KILN_IDLE_TIMEOUT)
      --insecure-registry stringArray   Allow plain http and unverified TLS for this registry (host[:port])
      --progress string                 auto, plain (a line per layer), tty (live bars) or quiet (default "auto")
      --registry-mirror stringArray     Pull REGISTRY through a mirror first ("REGISTRY=URL",
                                        e.g. docker.io=http://127.0.0.1:5000; also KILN_REGISTRY_MIRRORS)
      --response-timeout duration       Give up waiting for a response after this long
                                        (default 60s; also KILN_RESPONSE_TIMEOUT)
                                        Durations: 30s, 2m, 1m30s, 500ms. Failed calls are retried.`;

const CREDENTIALS_NOTE = `Credentials come from $DOCKER_CONFIG/config.json (default ~/.docker/config.json):
what 'kiln login' saved, credsStore and credHelpers, as docker uses them.`;

export const PULL_HELP = `Usage:  kiln pull [OPTIONS] NAME[:TAG|@DIGEST]

Download an image from a registry into the local store

Options:
      --platform string                 Pick this platform from a multi-platform image (os/arch[/variant];
                                        default: this machine's)
  -q, --quiet                           Print only the image reference
${REGISTRY_OPTIONS}

${CREDENTIALS_NOTE}
`;

export const PUSH_HELP = `Usage:  kiln push [OPTIONS] NAME[:TAG] [DESTINATION]

Upload an image of the local store to a registry, as DESTINATION (default NAME)

Options:
  -q, --quiet                           Print only the pushed reference
${REGISTRY_OPTIONS}

${CREDENTIALS_NOTE}
`;

export const COPY_HELP = `Usage:  kiln copy [OPTIONS] SOURCE DESTINATION

Copy an image between registries, layouts, archives and the local store;
print the digest of the manifest (or index) written

Locations:
  docker://NAME[:TAG|@DIGEST]           An image in a registry
  oci:DIR[:TAG]                         An OCI image layout folder (TAG: its ref.name)
  oci-archive:FILE[:TAG]                An OCI image layout as one tar file
  docker-archive:FILE[:NAME:TAG|:@N]    A 'docker save' tar (an image picked by tag or position)
  NAME[:TAG] or ID                      An image of the local store

Options:
  -a, --all-platforms                   Copy the whole multi-platform index, every image in it
      --platform string                 Pick this platform from a multi-platform image (os/arch[/variant];
                                        default: this machine's)
  -q, --quiet                           Print only the digest
${REGISTRY_OPTIONS}

Manifest digests are kept wherever the destination stores manifests (registries,
layouts, oci-archive, the local store). A docker-archive keeps configs (the image
ID) and layer tars; read from one, layers stay uncompressed tars
(application/vnd.oci.image.layer.v1.tar) so their digests are their diffIDs.

${CREDENTIALS_NOTE}
`;

export const LOGIN_HELP = `Usage:  kiln login [OPTIONS] [SERVER]

Log in to a registry (default docker.io): check the credentials with it, then
save them in $DOCKER_CONFIG/config.json (or its credential helper), as docker login does

Options:
  -p, --password string                 Password (prefer --password-stdin)
      --password-stdin                  Take the password from stdin
  -u, --username string                 Username
      --ca-cert stringArray             Trust this CA certificate (PEM file)
      --insecure-registry stringArray   Allow plain http and unverified TLS for this registry
      --connect-timeout, --response-timeout, --idle-timeout duration
                                        Network timeouts, as for 'kiln pull'
`;

export const LOGOUT_HELP = `Usage:  kiln logout [SERVER]

Log out from a registry (default docker.io): remove its credentials
`;

export const BINFMT_HELP = `Usage:  kiln binfmt [OPTIONS]

Show which platforms RUN steps can execute on this machine: natively, or
through a binfmt_misc handler (a QEMU user-mode emulator). A handler must have
the F flag, so that the kernel opens its interpreter on the host and not
inside the build's root filesystem.

Options:
      --format string   table (default) or json: {"supported":[...],"emulators":[...]}
      --install         Register qemu-user-static's emulators (/usr/lib/binfmt.d/qemu-*.conf)
                        with the F flag, mounting binfmt_misc when needed; never one for
                        this machine's own binaries; replaces a qemu-* handler that
                        differs, leaves one that is right (needs root)
      --uninstall       Remove the registered qemu-* handlers (needs root)
`;
