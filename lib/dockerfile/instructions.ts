/**
 * The typed Instruction union: what a Dockerfile says, one value per
 * instruction, after parsing and per-instruction validation but BEFORE
 * variable expansion. Every word here is exactly as written in the file
 * (quotes, `$VAR` and escapes kept); the planner/executor expands them with
 * the shell lexer, because expansion depends on ARG/ENV state that only
 * exists at plan time (BuildKit does the same).
 *
 * Discriminated on `kind`; consumers switch on it and end in `assertNever`.
 */

import type { ChmodSpec } from './chmod.ts';
import type { RunMountSpec } from './run-mount.ts';

/** 1-based inclusive line range of an instruction in its Dockerfile. */
export interface SourceRange {
  start: number;
  end: number;
}

/**
 * A here-document attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `3<<'EOF'`).
 * `content` is stored unchomped and unexpanded: apply `chomp` (strip leading
 * tabs of every line) and, when `expand`, variable expansion later.
 */
export interface Heredoc {
  /** Delimiter with quotes removed (`<<'EOF'` → `EOF`). */
  name: string;
  /** Body lines up to (not including) the terminator, each ending in `\n`. */
  content: string;
  /** False when any part of the delimiter word was quoted. */
  expand: boolean;
  /** True for the `<<-` form. */
  chomp: boolean;
  /** Number written before `<<`, 0 when none. */
  fileDescriptor: number;
}

/** Exec form (`["a","b"]`, JSON array) or shell form (raw text, run via SHELL). */
export type Command =
  | { form: 'exec'; args: string[] }
  | { form: 'shell'; script: string };

/** `key=value` as written; quotes and escapes are NOT removed yet. */
export interface KeyValue {
  key: string;
  value: string;
}

/** Fields every instruction carries. */
interface Base {
  /** Source lines of the instruction (continuations and heredoc bodies included). */
  range: SourceRange;
  /**
   * The instruction's source text, continuation lines joined and outer
   * whitespace trimmed, keyword as written (`COPY --from=x a b /dst/`).
   * This is BuildKit's `Command.String()`, the base of progress names and
   * history entries. Heredoc bodies are not included.
   */
  original: string;
}

/** `FROM [--platform=p] image [AS name]`. */
export interface FromInstruction extends Base {
  kind: 'FROM';
  image: string;
  /** Stage name lower-cased as BuildKit does. */
  stageName?: string;
  platform?: string;
}

/**
 * `RUN [--mount=…] [--network=…] [--security=…] cmd`. Mount specs are kept
 * raw (one per `--mount`, unexpanded) and, in `mountSpecs`, parsed as far as
 * parse time allows; the executor calls `parseRunMount(raw, expand)` after
 * expansion, as BuildKit does.
 */
export interface RunInstruction extends Base {
  kind: 'RUN';
  command: Command;
  /** Raw `--mount` values, in order (same order as `mountSpecs`). */
  mounts: string[];
  /** One per `--mount`: the raw value, its `from=` and, when static, the typed mount. */
  mountSpecs: RunMountSpec[];
  /** `--network=default|none|host` (validated here; undefined = default). */
  network?: 'default' | 'none' | 'host';
  /** `--security=sandbox|insecure` (validated here; undefined = sandbox). */
  security?: 'sandbox' | 'insecure';
  /** One raw string per `--device=` flag. */
  devices: string[];
  /** Heredocs in the shell form (unchomped, see Heredoc); empty for the exec form. */
  heredocs: Heredoc[];
}

/** `CMD ["a"]` / `CMD a b`. */
export interface CmdInstruction extends Base {
  kind: 'CMD';
  command: Command;
}

/** `ENTRYPOINT ["a"]` / `ENTRYPOINT a b`. */
export interface EntrypointInstruction extends Base {
  kind: 'ENTRYPOINT';
  command: Command;
}

/** `SHELL ["executable", "params"]`; BuildKit requires the exec form. */
export interface ShellInstruction extends Base {
  kind: 'SHELL';
  command: { form: 'exec'; args: string[] };
}

/** `LABEL k=v …` (or legacy `LABEL k v`). */
export interface LabelInstruction extends Base {
  kind: 'LABEL';
  pairs: KeyValue[];
}

/** `ENV k=v …` (or legacy `ENV k v`). */
export interface EnvInstruction extends Base {
  kind: 'ENV';
  pairs: KeyValue[];
}

/** Deprecated `MAINTAINER name`. */
export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  name: string;
}

/** `EXPOSE 80 443/udp`; words unexpanded and unvalidated. */
export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  ports: string[];
}

/** Common shape of COPY and ADD. */
interface FileInstructionFields {
  /**
   * Source paths as written, heredoc words (`<<EOF`) excluded: those are in
   * `heredocs`, in the order they appear (as BuildKit's SourceContents).
   */
  sources: string[];
  dest: string;
  /** `--from=stage|index|image`. Always undefined for ADD (BuildKit: unknown flag). */
  from?: string;
  chown?: string;
  /** `--chmod` as written (unexpanded); expand, then `parseChmod`. */
  chmod?: string;
  /** `--chmod` parsed at parse time, when it needs no expansion (validated either way). */
  chmodSpec?: ChmodSpec;
  link: boolean;
  parents: boolean;
  /** One entry per `--exclude=` flag. */
  exclude: string[];
  heredocs: Heredoc[];
}

/** `COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]… src… dest`. */
export interface CopyInstruction extends Base, FileInstructionFields {
  kind: 'COPY';
}

/** `ADD` = COPY's fields plus remote/archive options. */
export interface AddInstruction extends Base, FileInstructionFields {
  kind: 'ADD';
  /** `--keep-git-dir[=bool]`; undefined when the flag is absent. */
  keepGitDir?: boolean;
  /** `--checksum=sha256:…` for URL/git sources, unparsed. */
  checksum?: string;
  /** `--unpack[=bool]`; undefined = default (unpack local archives only). */
  unpack?: boolean;
}

/** `VOLUME ["/a"]` / `VOLUME /a /b`. */
export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  paths: string[];
}

/** `USER name[:group]`. */
export interface UserInstruction extends Base {
  kind: 'USER';
  user: string;
}

/** `WORKDIR path`. */
export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: string;
}

/** `ARG name[=default] …`; `value` undefined when no `=` was written. */
export interface ArgInstruction extends Base {
  kind: 'ARG';
  args: { key: string; value?: string }[];
}

/**
 * `ONBUILD <instruction>`: `trigger` is the raw trigger text stored in the
 * image config (`OnBuild`), `instruction` its parsed, validated form.
 */
export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  trigger: string;
  instruction: Instruction;
}

/** `STOPSIGNAL SIGTERM` / `STOPSIGNAL 9`. */
export interface StopsignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: string;
}

/**
 * `HEALTHCHECK NONE` or `HEALTHCHECK [opts] CMD …`. Durations are parsed
 * here (Go `time.ParseDuration` syntax, as BuildKit does at parse time) into
 * NANOSECONDS, the unit of the image config; undefined when the flag is absent
 * or zero (BuildKit writes 0 = "use the default"). Values beyond 2^53 ns
 * (~104 days) lose precision.
 */
export type HealthcheckInstruction = Base & { kind: 'HEALTHCHECK' } & (
    | { test: 'NONE' }
    | {
        test: 'CMD';
        /** Exec form → config `["CMD", …args]`; shell form → `["CMD-SHELL", script]`. */
        command: Command;
        interval?: number;
        timeout?: number;
        startPeriod?: number;
        startInterval?: number;
        /** `--retries=N`, N ≥ 0; undefined when absent. */
        retries?: number;
      }
  );

/** Every Dockerfile instruction, discriminated on `kind`. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | EntrypointInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

/** The `kind` tags, in BuildKit's documentation order. */
export type InstructionKind = Instruction['kind'];
