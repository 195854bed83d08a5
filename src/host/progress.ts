// Progress for long jobs (simulator seeds, replays of big logs, clones, benchmark rounds):
// one line with the amount done, the rate and the time left. `progress` draws it on
// stderr, redrawn in place at most every PROGRESS_REDRAW_MS and erased when the job ends,
// so nothing stays in the scrollback; `progressText` is the same line for callers that
// draw it themselves (the launcher's status block shows a clone's copy with it).
//
// Only on a terminal that can redraw a line: into a pipe, a file or a TERM=dumb terminal
// it writes nothing. The line uses no colour, so NO_COLOR needs nothing more here.

/** Redraw no more often than this (a faster job would spend its time drawing). */
export const PROGRESS_REDRAW_MS = 200;

export interface Progress {
  /** `done` units of the total are finished; `note` is appended to the line (e.g. the icount reached). */
  update(done: number, note?: string): void;
  /** Erases the line (call before printing anything else, and at the end). */
  clear(): void;
}

/**
 * What the amounts are: a count of `unit`s, bytes (KiB, MiB, GiB; the rate per second
 * likewise), or instructions (icount 1.5G; the rate in MIPS).
 */
export type ProgressAmounts = "count" | "bytes" | "icount";

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  now?: () => number;
  amounts?: ProgressAmounts;
}

export interface ProgressFacts {
  label: string;
  done: number;
  total: number;
  /** Units of the job (e.g. "seeds"); only counts show it. */
  unit: string;
  amounts?: ProgressAmounts;
  /** Time over which `done - doneAtStart` was reached (no rate or time left without it). */
  elapsedMs?: number;
  /** How much was done when `elapsedMs` began (a job first seen part-way through). */
  doneAtStart?: number;
  note?: string;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/** Bytes in binary units, one decimal from KiB up (the same units `--mem` takes). */
export function formatBytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (n < 1024) return `${Math.round(n)} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Instruction counts the way people read them: 950, 12.3k, 45.6M, 1.50G. */
export function formatIcount(n: number): string {
  if (n < 1e3) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(2)}G`;
}

/** Whether a progress line can be drawn on this stream (a terminal that moves its cursor). */
export function progressWanted(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true && process.env.TERM !== "dumb";
}

/**
 * The line: `label: 64.0 MiB of 128.0 MiB (50%), 30.2 MiB/s, about 2 s left; note` (bytes),
 * `label: 100 of 1,000 seeds (10%), 10 seeds/s, ...` (a count), or
 * `label: icount 45.6M of 1.50G (3%), 150 MIPS, ...` (instructions).
 * The rate and the time left appear once something was done over a measured time; a job
 * slower than one unit a second shows the time each unit takes instead of a rate.
 */
export function progressText(f: ProgressFacts): string {
  const kind = f.amounts ?? "count";
  const amount = (n: number) => (kind === "bytes" ? formatBytes(n) : kind === "icount" ? formatIcount(n) : n.toLocaleString("en-US"));
  const pct = f.total > 0 ? Math.floor((f.done / f.total) * 100) : 0;
  let line = `${f.label}: ${kind === "icount" ? "icount " : ""}${amount(f.done)} of ${amount(f.total)}${kind === "count" ? ` ${f.unit}` : ""} (${pct}%)`;
  const gained = f.done - (f.doneAtStart ?? 0);
  if (f.elapsedMs !== undefined && f.elapsedMs > 0 && gained > 0) {
    const perSec = (gained * 1000) / f.elapsedMs;
    const rate =
      kind === "bytes" ? `${formatBytes(perSec)}/s` : kind === "icount" ? `${(perSec / 1e6).toFixed(perSec < 1e7 ? 1 : 0)} MIPS` : perSec >= 1 ? `${perSec.toFixed(perSec < 10 ? 1 : 0)} ${f.unit}/s` : `${formatDuration(1000 / perSec)} each`;
    const left = Math.max(0, f.total - f.done);
    const leftMs = (left / perSec) * 1000;
    line += `, ${rate}, ${left === 0 ? "done" : leftMs < 1000 ? "under 1 s left" : `about ${formatDuration(leftMs)} left`}`;
  }
  return f.note ? `${line}; ${f.note}` : line;
}

export function progress(label: string, total: number, unit: string, o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  const now = o.now ?? Date.now;
  if (!progressWanted(stream)) return { update: () => undefined, clear: () => undefined };
  const started = now();
  let lastDraw: number | undefined;
  let shown = false;
  return {
    update(done, note) {
      const t = now();
      if (lastDraw !== undefined && t - lastDraw < PROGRESS_REDRAW_MS && done < total) return;
      lastDraw = t;
      const line = progressText({ label, done, total, unit, amounts: o.amounts, elapsedMs: t - started, note });
      stream.write(`\r\x1b[K${line.slice(0, Math.max(10, (stream.columns ?? 80) - 1))}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}
