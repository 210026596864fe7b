/** Help texts, kept apart from the commands so `--help` loads nothing else. */

export const BUILD_HELP = `Usage:  kiln build [OPTIONS] PATH

Start a build

Options:
      --build-arg stringArray     Set build-time variables
  -f, --file string               Name of the Dockerfile (default: "PATH/Dockerfile")
  -o, --output stringArray        Output destination (format: "type=local,dest=path")
                                  types: oci (dest=DIR with tar=false, else a tar file),
                                  docker (docker-archive tar for 'docker load'),
                                  local (the root filesystem in a directory),
                                  tar (the root filesystem as a tar file)
  -q, --quiet                     Suppress the build output and print image ID on success
  -t, --tag stringArray           Name and optionally a tag (format: "name:tag")
      --target string             Set the target build stage to build

Every build is also stored in the local image store ($KILN_HOME) under its tags.
SOURCE_DATE_EPOCH (environment or --build-arg) makes the build reproducible.
`;

export const IMAGES_HELP = `Usage:  kiln images [OPTIONS]

List images in the local store

Options:
  -q, --quiet      Only show image IDs
      --no-trunc   Don't truncate output
`;

export const INSPECT_HELP = `Usage:  kiln inspect NAME|ID

Display the configuration of an image in the local store, as JSON
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
