/**
 * Deterministic Dockerfile mutations for the fuzzers: byte flips, line
 * duplication/deletion/swaps, and insertions of the things Dockerfile
 * parsers trip on (flags, quotes, escapes, heredoc markers, JSON brackets,
 * instruction names, variables, directives).
 */

/** A seeded PRNG returning floats in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (random: Random, n: number): number => Math.floor(random() * n);

const KEYWORDS = [
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR',
  'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'from', 'Run', 'copy', 'RUNN', 'FORM', 'ONBUILD ONBUILD', 'ONBUILD FROM',
  'HEALTHCHECK NONE', 'HEALTHCHECK CMD', '#', '', '\\',
];
const FLAGS = [
  '--mount=type=cache,target=/c', '--mount=type=secret,id=s,env=E,required', '--mount=type=ssh', '--mount=type=tmpfs,size=1g',
  '--mount=type=bind,from=$X', '--mount=', '--mount=type=cahce', '--mount="a,b"', '--mount=a"b', '--mount=required,type=secret',
  '--mount=type=cache,mode=9,uid=-1', '--mount=size=1.5.5m,type=tmpfs', '--mount=type=tmpfs,size=1e400',
  '--chmod=755', '--chmod=u+x,g-w', '--chmod=a=rwxXst', '--chmod=u+', '--chmod=,', '--chmod=99999', '--chmod=$M', '--chmod=${M:?no}',
  '--from=$X', '--from=${X', '--from=0', '--from=a\\$', '--platform=$BUILDPLATFORM', '--platform=', '--network=none', '--network=x',
  '--security=insecure', '--interval=1h2m3.5s', '--interval=1x', '--timeout=-1s', '--retries=-1', '--retries=99999999999',
  '--start-period=.5ms', '--link', '--link=maybe', '--parents=false', '--exclude=*.go', '--keep-git-dir=true', '--checksum=sha256:0',
  '--unpack', '--foo', '--', '--=', '---x', '--chown=1:1', '--device=x',
];
const FRAGMENTS = [
  '"', "'", '\\', '`', '\\\n', '\\ \n', '\n\\\n', '\n\n', '\r\n', '\t', '\u00a0', '\ufeff', '\u2028', '\0', '\ud800',
  '<<EOF', '<<-EOF', "<<'EOF'", '<<"EOF"', '<<', '<<E\nx\nE\n', '\nEOF\n', '3<<EOF', '<<EOF <<EOT',
  '[', ']', '["a"]', '["a", 1]', '[1]', '{', '}', '[]', '["a",', '[null]',
  '$X', '${X}', '${X:-y}', '${X:?err}', '${X#*}', '${X/a/b}', '${', '${X', '${X:}', '$$', '${#X}', '${X:0:1}', '$1', '${X:-${Y:-z}}',
  '=', ' = ', 'a=b', '"a b"=c', 'AS', 'as', ' AS x', '/', '..', '*', '**', '!', ',', ';', '#', '# check=skip=all', '# escape=`',
];
const HEAD = ['# syntax=docker/dockerfile:1\n', '# escape=`\n', '# check=skip=all;error=true\n', '# check=error=maybe\n', '#escape=x\n', '# check=experimental=all\n', '#!/bin/sh\n', '\ufeff'];

function byteMutation(input: Uint8Array, random: Random): Uint8Array {
  const bytes = Uint8Array.from(input);
  if (bytes.length === 0) return Uint8Array.of(int(random, 256));
  const at = int(random, bytes.length);
  switch (int(random, 3)) {
    case 0:
      bytes[at] = int(random, 256);
      return bytes;
    case 1:
      return Uint8Array.from([...bytes.subarray(0, at), int(random, 256), ...bytes.subarray(at)]);
    default:
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1 + int(random, 4))]);
  }
}

function lineMutation(lines: string[], random: Random, other: string[]): string[] {
  const out = [...lines];
  const at = int(random, out.length + 1);
  const line = out[at] ?? '';
  switch (int(random, 8)) {
    case 0: out.splice(at, 0, line); break;
    case 1: out.splice(at, 1); break;
    case 2: {
      const j = int(random, out.length);
      [out[at], out[j]] = [out[j] ?? '', line];
      break;
    }
    case 3: out.splice(at, 0, pick(random, other)); break;
    case 4: {
      const [kw = '', ...rest] = line.trimStart().split(' ');
      out[at] = [kw, pick(random, FLAGS), ...rest].join(' ');
      break;
    }
    case 5: out[at] = `${pick(random, KEYWORDS)} ${line.replace(/^\s*\S+/, '')}`; break;
    case 6: out.splice(at, 0, `${pick(random, KEYWORDS)} ${pick(random, FLAGS)} ${pick(random, FRAGMENTS)} ${pick(random, FRAGMENTS)}`); break;
    default: out[at] = line.toLowerCase(); break;
  }
  return out;
}

function textMutation(text: string, random: Random): string {
  const at = int(random, text.length + 1);
  if (random() < 0.15) return pick(random, HEAD) + text;
  return text.slice(0, at) + pick(random, FRAGMENTS) + text.slice(at);
}

/** One mutated input: a random seed with 1–6 mutations applied. */
export function mutate(seeds: readonly Uint8Array[], random: Random): Uint8Array {
  const decoder = new TextDecoder();
  let bytes = pick(random, seeds);
  const other = decoder.decode(pick(random, seeds)).split('\n');
  const rounds = 1 + int(random, 6);
  for (let r = 0; r < rounds; r++) {
    const kind = int(random, 10);
    if (kind < 2) {
      bytes = byteMutation(bytes, random);
      continue;
    }
    const text = decoder.decode(bytes);
    const next = kind < 6 ? lineMutation(text.split('\n'), random, other).join('\n') : textMutation(text, random);
    bytes = new TextEncoder().encode(next);
  }
  return bytes;
}
