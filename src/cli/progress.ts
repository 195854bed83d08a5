// Progress for long jobs (simulator seeds, and whatever else counts up to a known total):
// one line on stderr with the count, the rate and the time left, redrawn in place at most
// every PROGRESS_REDRAW_MS and erased when the job ends, so nothing stays in the
// scrollback. Only on a terminal: into a pipe or a file it writes nothing.

/** Redraw no more often than this (a faster job would spend its time drawing). */
export const PROGRESS_REDRAW_MS = 200;

export interface Progress {
  /** `done` units of the total are finished. */
  update(done: number): void;
  /** Erases the line (call before printing anything else, and at the end). */
  clear(): void;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export function progress(label: string, total: number, unit: string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  if (stream.isTTY !== true) return { update: () => undefined, clear: () => undefined };
  const started = now();
  let lastDraw = 0;
  let shown = false;
  return {
    update(done) {
      const t = now();
      if (t - lastDraw < PROGRESS_REDRAW_MS && done < total) return;
      lastDraw = t;
      const secs = (t - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 ? formatDuration(((total - done) / rate) * 1000) : "?";
      const line = `${label}: ${done.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} ${unit} (${Math.round((done / total) * 100)}%), ${rate.toFixed(rate < 10 ? 1 : 0)} ${unit}/s, about ${eta} left`;
      stream.write(`\r\x1b[K${line.slice(0, Math.max(10, (stream.columns ?? 80) - 1))}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}
