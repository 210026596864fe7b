/**
 * Progress of pulls, pushes and copies on stderr, in docker's words: one
 * line per layer when it is done (plain), or live bars redrawn in place
 * with ANSI escapes (tty), or nothing (quiet). Configs and manifests are
 * not shown, as docker does not show them.
 */
import type { BlobOutcome, RegistryEvent, TransportEvent } from '../lib/index.ts';
import { UsageError } from './args.ts';
import { humanSize } from './format.ts';

export type ProgressMode = 'plain' | 'tty' | 'quiet';

/** `--progress=auto|plain|tty|quiet`; auto is tty when stderr is a terminal. */
export function progressMode(value: string | undefined, stderrIsTty: boolean): ProgressMode {
  switch (value ?? 'auto') {
    case 'auto': return stderrIsTty ? 'tty' : 'plain';
    case 'plain': return 'plain';
    case 'tty': return 'tty';
    case 'quiet': return 'quiet';
    default: throw new UsageError(`invalid --progress ${JSON.stringify(value)}: auto, plain, tty or quiet`);
  }
}

const CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

interface Row {
  id: string;
  size: number;
  bytes: number;
  started: number | undefined;
  finished: number | undefined;
  outcome: BlobOutcome | undefined;
}

/** What the verbs say per outcome. */
const WORDS: Record<BlobOutcome, string> = {
  exists: 'Already exists',
  mounted: 'Mounted',
  uploaded: 'Pushed',
  downloaded: 'Pull complete',
  copied: 'Copied',
};

const BAR = 30;
const REDRAW_MS = 100;

export class Progress {
  readonly #mode: ProgressMode;
  readonly #write: (s: string) => void;
  readonly #now: () => number;
  readonly #rows = new Map<string, Row>();
  #drawn = 0;
  #lastDraw = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(mode: ProgressMode, write: (s: string) => void, now: () => number = Date.now) {
    this.#mode = mode;
    this.#write = write;
    this.#now = now;
  }

  /** A line above the bars (a header, a retry notice). */
  message(text: string): void {
    if (this.#mode === 'quiet') return;
    if (this.#mode === 'plain') {
      this.#write(`${text}\n`);
      return;
    }
    this.#clear();
    this.#write(`${text}\n`);
    this.#draw(true);
  }

  onEvent = (e: TransportEvent): void => {
    if (this.#mode === 'quiet' || e.kind === 'manifest-written') return;
    if (e.kind !== 'blob-progress' && CONFIG_TYPES.has(e.mediaType)) return;
    const id = e.digest.slice(7, 19);
    let row = this.#rows.get(id);
    if (row === undefined) {
      if (e.kind === 'blob-progress') return;
      row = { id, size: e.size, bytes: 0, started: undefined, finished: undefined, outcome: undefined };
      this.#rows.set(id, row);
    }
    switch (e.kind) {
      case 'blob-start':
        row.started = this.#now();
        break;
      case 'blob-progress':
        row.bytes = e.bytes;
        break;
      case 'blob-done':
        row.outcome = e.outcome;
        row.finished = this.#now();
        if (e.outcome !== 'exists' && e.outcome !== 'mounted') row.bytes = e.size;
        if (this.#mode === 'plain') this.#write(`${this.#doneLine(row)}\n`);
        break;
    }
    if (this.#mode === 'tty') this.#draw(e.kind === 'blob-done');
  };

  onRegistryEvent = (e: RegistryEvent): void => {
    if (e.kind === 'retry') this.message(`Retrying in ${(e.delayMs / 1000).toFixed(1)}s: ${e.code}: ${e.message}`);
    else this.message(`Mirror ${e.mirror} failed (${e.code}), trying the next source`);
  };

  /** Draws the final state and stops redrawing. */
  finish(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#mode === 'tty') this.#draw(true);
  }

  #doneLine(row: Row): string {
    const word = WORDS[row.outcome!];
    if (row.outcome === 'exists' || row.outcome === 'mounted' || row.started === undefined) return `${row.id}: ${word}`;
    const seconds = Math.max(0.001, ((row.finished ?? this.#now()) - row.started) / 1000);
    return `${row.id}: ${word} ${humanSize(row.size)} in ${seconds.toFixed(2)}s (${humanSize(row.size / seconds)}/s)`;
  }

  #barLine(row: Row): string {
    if (row.outcome !== undefined) return this.#doneLine(row);
    if (row.started === undefined) return `${row.id}: Waiting`;
    const fraction = row.size > 0 ? Math.min(1, row.bytes / row.size) : 0;
    const filled = Math.floor(fraction * BAR);
    const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(BAR - filled)}]`;
    const seconds = Math.max(0.001, (this.#now() - row.started) / 1000);
    return `${row.id}: Transferring ${bar} ${humanSize(row.bytes)}/${humanSize(row.size)} ${humanSize(row.bytes / seconds)}/s`;
  }

  /** Redraws the bars in place (at most every 100 ms unless forced). */
  #draw(force: boolean): void {
    const now = this.#now();
    if (!force && now - this.#lastDraw < REDRAW_MS) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#draw(true);
      }, REDRAW_MS).unref();
      return;
    }
    this.#lastDraw = now;
    const lines = [...this.#rows.values()].map((r) => this.#barLine(r));
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
    for (const line of lines) out += `\x1b[2K${line}\n`;
    this.#drawn = lines.length;
    this.#write(out);
  }

  #clear(): void {
    if (this.#drawn === 0) return;
    this.#write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }
}
