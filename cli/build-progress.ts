/**
 * `kiln build --progress=auto|plain|tty|quiet`, in BuildKit's words.
 *
 * plain (CI logs): one line per event, in the order they happen, nothing
 * redrawn: `#3 [builder 2/4] COPY app.go .`, `#3 DONE 0.1s` or `#3 CACHED`,
 * RUN output as it comes, `#pull REF sha256:… 3.4MB done` per base layer
 * fetched and `#push REF sha256:… 3.4MB pushed` per layer pushed. tty: the
 * same lines as they become final, under one status line redrawn in place
 * (elapsed time, steps done, the running step and the bytes moving).
 * quiet: nothing.
 */
import type { BuildProgress } from '../lib/index.ts';
import type { ProgressMode } from './progress.ts';
import { humanSize } from './format.ts';

const REDRAW_MS = 100;
const CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export class BuildDisplay {
  readonly #mode: ProgressMode;
  readonly #write: (s: string) => void;
  readonly #now: () => number;
  readonly #started: number;
  readonly #running = new Map<number, { text: string; since: number }>();
  /** Blobs moving now: digest → bytes so far and size. */
  readonly #moving = new Map<string, { bytes: number; size: number }>();
  #done = 0;
  #total = 0;
  #status = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(mode: ProgressMode, write: (s: string) => void, now: () => number = Date.now) {
    this.#mode = mode;
    this.#write = write;
    this.#now = now;
    this.#started = now();
    if (mode === 'tty') {
      this.#timer = setInterval(() => this.#redraw(), REDRAW_MS);
      this.#timer.unref();
    }
  }

  onEvent = (e: BuildProgress): void => {
    if (this.#mode === 'quiet') return;
    const line = this.#track(e);
    if (this.#mode === 'plain') {
      if (line !== '') this.#write(line);
      return;
    }
    this.#clear();
    if (line !== '') this.#write(line);
    this.#redraw();
  };

  /** Stops redrawing and clears the status line. */
  finish(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#mode === 'tty') this.#clear();
  }

  /** Records the event; returns the permanent text it prints ('' for none). */
  #track(e: BuildProgress): string {
    switch (e.kind) {
      case 'step':
        this.#total++;
        this.#running.set(e.id, { text: `[${e.stageName} ${e.step}/${e.total}] ${e.text.replace(/\s*\n\s*/g, ' ')}`, since: this.#now() });
        return `#${e.id} ${this.#running.get(e.id)!.text}\n`;
      case 'step-done':
        this.#done++;
        this.#running.delete(e.id);
        return e.cached ? `#${e.id} CACHED\n` : `#${e.id} DONE ${e.seconds.toFixed(1)}s\n`;
      case 'output':
        return e.data.toString('utf8');
      case 'layer':
        return `  layer ${e.digest.slice(7, 19)} ${e.size} bytes\n`;
      case 'warning':
        return `WARNING: ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.message}\n`;
      case 'cache':
        return '';
      case 'pushed':
        return `#push ${e.ref} manifest ${e.digest} done\n`;
      case 'transfer': {
        const t = e.event;
        if (t.kind === 'manifest-written') return '';
        if (t.kind === 'blob-progress') {
          const m = this.#moving.get(t.digest);
          if (m !== undefined) m.bytes = t.bytes;
          return '';
        }
        if (CONFIG_TYPES.has(t.mediaType)) return '';
        if (t.kind === 'blob-start') {
          this.#moving.set(t.digest, { bytes: 0, size: t.size });
          return '';
        }
        this.#moving.delete(t.digest);
        const verb = e.direction;
        const word = t.outcome === 'downloaded' ? 'done' : t.outcome === 'uploaded' ? 'pushed' : t.outcome;
        return `#${verb} ${e.ref} ${t.digest.slice(0, 19)} ${humanSize(t.size)} ${word}\n`;
      }
      default:
        return '';
    }
  }

  #clear(): void {
    if (!this.#status) return;
    this.#write('\r\x1b[K');
    this.#status = false;
  }

  #redraw(): void {
    if (this.#mode !== 'tty') return;
    const now = this.#now();
    const parts = [`[+] Building ${((now - this.#started) / 1000).toFixed(1)}s (${this.#done}/${this.#total})`];
    const step = [...this.#running.values()].at(-1);
    if (step !== undefined) parts.push(`${step.text.slice(0, 60)} ${((now - step.since) / 1000).toFixed(1)}s`);
    if (this.#moving.size > 0) {
      let bytes = 0;
      let size = 0;
      for (const m of this.#moving.values()) {
        bytes += m.bytes;
        size += m.size;
      }
      parts.push(`${humanSize(bytes)}/${humanSize(size)}`);
    }
    const cols = process.stderr.columns > 0 ? process.stderr.columns : 120; // 0 under script(1) and other ptys without a size
    this.#write(`\r\x1b[K${parts.join('  ').slice(0, Math.max(20, cols - 1))}`);
    this.#status = true;
  }
}
