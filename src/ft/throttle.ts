// Execution lag and throttling, as in VMware FT: the primary measures how far the
// backup's execution trails its own, in instructions and in time, and when the lag passes
// a threshold it slows down gradually (it sleeps a growing share of the time), speeding
// up again as the backup catches up. That keeps the lag bounded, and with it the time a
// failover spends replaying. Pure: it is given clock readings, it reads none.

/** The paper's threshold: throttle once the backup trails by more than about a second. */
export const LAG_THRESHOLD_MS_DEFAULT = 1000;
/** How often the throttle level moves, and by how much (a share of the time asleep). */
const ADJUST_INTERVAL_MS = 100;
const ADJUST_STEP = 0.2;
/** Never sleep more than this share of the time: the primary always makes some progress. */
const THROTTLE_MAX = 0.95;
/** (time, icount) samples kept for the lag in time: a few seconds at one per millisecond. */
const SAMPLES_MAX = 8192;
/** Sleeps shorter than this are saved up (a host timer cannot sleep for 0.2 ms). */
const SLEEP_MS_MIN = 2;
/**
 * The shortest time between two samples that measures the primary's rate. Slices take
 * about half a millisecond (src/host/slice-pacer.ts); two runs closer than this (an idle
 * wake-up right after a slice, or the simulator's clock standing still between calls,
 * where the difference can be a rounding error of 1e-12 ms) would divide a few
 * instructions by almost nothing: the simulator's primaries reached 1e15-1e17
 * instructions per ms that way, and the throttle then aimed at its maximum whenever it
 * engaged.
 */
const RATE_DT_MIN_MS = 0.05;
/** The backup's replay rate is measured over windows of this length. */
const RATE_WINDOW_MS = 50;
/** A window in which the primary went at least this share of its running speed: it ran throughout (see lagMs). */
const PRIMARY_FULL_SPEED_SHARE = 0.8;
/**
 * A window in which the backup said it was idle counts as "kept up" only if it also
 * replayed at least this share of what the primary ran in it. A backup that keeps up
 * trails by about one batch (closed every 10-20 ms) and so replays at least 60% of a
 * 50 ms window's work; one that replayed (almost) nothing said "idle" because no log had
 * reached it yet: at its start, its only report came before the first batch, and that
 * window credited it with its primary's full speed for the 2 s of windows kept, so a
 * backup at a third of the speed was throttled only 1.4 s after it began (a 1 s
 * threshold; test/throttle-rules.test.ts).
 */
const KEPT_UP_SHARE = 0.5;
/** Rate windows remembered for the backup's best rate (see Throttle.backupRate): 2 s of them. */
const RATE_WINDOWS_KEPT = 40;
/**
 * A new backup's starting lag (the copy's time: it replays everything logged since the
 * snapshot) is tolerated while it shrinks: checked this often, it must be smaller than at
 * the last check, for at most CATCH_UP_MS_MAX. Long enough that a few hundred ms in which
 * a neighbour took the backup's CPU (seen at load 10-15 on 2 cores) do not end it, short
 * enough that a backup that does not gain is throttled within about a second.
 */
const CATCH_UP_CHECK_MS = 1000;
/**
 * Checks in a row at which a new backup's gap may fail to shrink (since the check
 * before) before its tolerance ends. One is forgiven: beside the standard load on 2
 * cores (load average 10-12 with other work), a backup went 500-980 ms without being run
 * at all (its 10 ms timer that late, with 14-86 ms of CPU used meanwhile), so one check
 * found its gap grown, the tolerance ended 1 s after the pair formed, and the throttle
 * stopped its primary (level 0.95, 0 instructions per second; bench:clone --timeline).
 * Two in a row (2 s without gaining) still find a backup that is no faster than its
 * primary.
 */
const CATCH_UP_MISSES_MAX = 1;
/** The longest a new backup's starting lag is tolerated once it replays: a failover in that time replays at most the lag it started with. */
const CATCH_UP_MS_MAX = 10_000;
/** The longest a new backup may take to start replaying (its copy sent, restored) and still have its starting lag tolerated. */
const CATCH_UP_START_MS_MAX = 60_000;

export class Throttle {
  /** Share of the time the primary sleeps (0 = full speed). */
  level = 0;
  /** The largest lag and level seen (for reports). */
  lagMsMax = 0;
  /**
   * The lag as the last slice measured it (lagMs). Status reports read this: lagMs itself
   * closes rate windows, so a status line that called it would move the throttle's
   * measurements, and a host (which reports every 250 ms) would throttle otherwise than
   * the simulator (which reports nothing).
   */
  lastLagMs = 0;
  levelMax = 0;
  private readonly atMs = new Float64Array(SAMPLES_MAX);
  private readonly icounts = new Float64Array(SAMPLES_MAX);
  private head = 0;
  private count = 0;
  private lastAdjustMs = -Infinity;
  /** Average wall time of one run() slice (ms), to size the sleeps. */
  private sliceMs = 1;
  private lastRunMs: number | undefined;
  private lastSleepMs = 0;
  private lastRunIcount = 0;
  /** Instructions per ms the primary runs when not asleep (0 when it idles: then there is nothing to throttle). */
  private primaryRate = 0;
  private debtMs = 0;
  /**
   * A new backup catching up (see newBackup): since when it is measured (the first rate
   * window after it joined, then the first in which it replayed), when its gap was last
   * checked, and the gap (instructions) then. Undefined: no tolerance (the
   * first backup, which starts level with its primary, or a catch-up that ended).
   */
  private catchUp?: { sinceMs: number | undefined; checkMs: number | undefined; gap: number; misses: number };
  /** While a catch-up is tolerated (see catchingUp). */
  private catchUpTolerated = false;
  /** The first sample since the pair formed (the constructor or newBackup): the lag is bounded by the time since (see lagBoundMs). */
  private firstSampleMs: number | undefined;
  /** How far behind the first sample the backup started (see newBackup). */
  private startLagMs = 0;

  constructor(readonly thresholdMs = LAG_THRESHOLD_MS_DEFAULT) {}

  /**
   * A new backup joins (by clone): what was learnt about the previous one (its replay rate,
   * the level it was throttled to) and the primary's history before the copy say nothing
   * about it. Without this, a primary that had been alone read its joiner's lag from the
   * oldest sample it kept, seconds old, and slept through the copy and long after it.
   *
   * `startLagMs`: how far, in time, the backup starts behind the primary's next sample.
   * 0 for a clone (node-clone.ts calls this at the snapshot, where the joiner starts, so
   * the samples cover the copy's time); a caller whose backup starts further back says so,
   * or the lag bound (see lagBoundMs) would understate its lag.
   */
  newBackup(startLagMs = 0): void {
    this.firstSampleMs = undefined;
    this.startLagMs = Math.max(0, startLagMs);
    this.level = 0;
    this.debtMs = 0;
    this.head = 0;
    this.count = 0;
    this.lastRunMs = undefined;
    this.lastSleepMs = 0;
    this.lastBackup = undefined;
    this.backupRate = 0;
    this.backupRates.fill(0);
    this.idleSeen = false;
    this.catchUp = { sinceMs: undefined, checkMs: undefined, gap: Infinity, misses: 0 };
    this.catchUpTolerated = true;
    this.lastReportIdle = false;
    this.lastAdjustMs = -Infinity;
  }

  /**
   * Records where the primary stood at `nowMs` (call at every run, with the icount at that
   * moment: the slice's start). Paired with the icount at the slice's end instead, the
   * rate below divided one slice's instructions by the previous slice's time.
   */
  sample(nowMs: number, icount: number): void {
    if (this.lastRunMs !== undefined) {
      // Time spent running since the last call (the sleep we asked for does not count).
      const dt = nowMs - this.lastRunMs - this.lastSleepMs;
      if (dt >= RATE_DT_MIN_MS && dt < 50) {
        this.sliceMs = this.sliceMs * 0.9 + dt * 0.1;
        const rate = (icount - this.lastRunIcount) / dt;
        if (rate > 0) this.primaryRate = this.primaryRate > 0 ? this.primaryRate * 0.9 + rate * 0.1 : rate;
      }
    }
    this.lastRunIcount = icount;
    this.lastSleepMs = 0;
    this.lastRunMs = nowMs;
    this.firstSampleMs ??= nowMs;
    const last = (this.head + SAMPLES_MAX - 1) % SAMPLES_MAX;
    if (this.count > 0 && nowMs - this.atMs[last] < 1) return;
    this.atMs[this.head] = nowMs;
    this.icounts[this.head] = icount;
    this.head = (this.head + 1) % SAMPLES_MAX;
    if (this.count < SAMPLES_MAX) this.count++;
  }

  /**
   * The backup's lag in ms: the time it needs to catch up (the instructions it trails by,
   * at the rate it has been replaying), which is what a failover would spend replaying.
   * Until that rate is known: how long ago the primary stood where the backup stands now
   * (a measure that alone would mislead the throttle: a throttled primary moves slowly,
   * so a small gap spans a long time, and the throttle would feed on itself). Either is
   * bounded by the time the pair has existed (see lagBoundMs).
   */
  lagMs(nowMs: number, primaryIcount: number, backupIcount: number): number {
    const behind = this.historyLagMs(nowMs, primaryIcount, backupIcount);
    const last = this.lastBackup;
    let windowClosed = false;
    if (!last || backupIcount < last.icount) this.lastBackup = { atMs: nowMs, icount: backupIcount, primaryIcount };
    else if (nowMs - last.atMs >= RATE_WINDOW_MS) {
      // Windows in which the backup had work throughout say how fast it replays. One in
      // which it waited for log says it kept up with the primary: as fast as the primary
      // went meanwhile, at least. That counts only when the primary ran at its full speed
      // throughout (unthrottled, and not a guest that waits: keeping up with one says
      // little). Without those, a backup that keeps up would be measured only in the
      // windows in which it was starved (see backupRate).
      //
      // A window in which the backup began to replay (it had not moved in the window
      // before) is partial: it replayed for only part of it, and cold. In bench:compute
      // (2 of 8 pairs at load 2) such a window, the backup's first, held only its first
      // slice: 20,000 instructions in 50 ms, a thousandth of the 400,000 per ms it replayed
      // in the next one. The rate taken from it alone put the lag at 50-92 s in a 3.5 s
      // run, and the throttle at 0.2. So a rate is taken only from a window in which the
      // backup was replaying when it began. (Waiting for more windows of replay before
      // believing the rate, as first tried, also delayed the throttle for a backup that
      // is really slower: 50 ms per window, which with the simulator's 100 ms thresholds
      // took most of the throttling out of 7 of 40 slow-backup runs.)
      const windowMs = nowMs - last.atMs;
      const primaryWent = (primaryIcount - last.primaryIcount) / windowMs;
      if (behind > 0 && last.behind && !this.idleSeen) {
        if (last.replaying) this.noteBackupRate((backupIcount - last.icount) / windowMs);
      } else if (
        this.idleSeen &&
        this.level === 0 &&
        this.primaryRate > 0 &&
        primaryWent >= PRIMARY_FULL_SPEED_SHARE * this.primaryRate &&
        backupIcount - last.icount >= KEPT_UP_SHARE * (primaryIcount - last.primaryIcount)
      )
        this.noteBackupRate(primaryWent);
      windowClosed = true;
      this.lastBackup = { atMs: nowMs, icount: backupIcount, behind: behind > 0, primaryIcount, replaying: backupIcount > last.icount };
      this.idleSeen = this.lastReportIdle;
    } else if (behind === 0) last.behind = false;
    const estimate = behind === 0 ? 0 : !(this.backupRate > 0) ? (this.lastReportIdle ? 0 : behind) : (primaryIcount - backupIcount) / this.backupRate;
    const lag = Math.min(estimate, this.lagBoundMs(nowMs));
    this.lastLagMs = lag;
    if (windowClosed) this.noteCatchUp(nowMs, primaryIcount - backupIcount, lag, backupIcount > last!.icount);
    return lag;
  }

  /**
   * Where the current rate window began: the time, the backup's and the primary's icount,
   * whether the backup trailed throughout so far (behind), and whether it replayed in the
   * window before (replaying: then it was replaying as this one began, see lagMs).
   */
  private lastBackup?: { atMs: number; icount: number; behind?: boolean; primaryIcount: number; replaying?: boolean };
  /** The backup said it was idle (nothing left to replay) since the rate window began / in its last report. */
  private idleSeen = false;
  private lastReportIdle = false;

  /** The backup's heartbeat: whether it had replayed everything it had received. */
  backupReport(idle: boolean): void {
    this.lastReportIdle = idle;
    if (idle) this.idleSeen = true;
  }
  /**
   * Instructions per ms the backup can replay: the best of the windows in which it had
   * work, over the last BACKUP_RATE_WINDOWS_KEPT of them. The best, not an average: on a
   * busy machine the windows in which a backup as fast as its primary "had work
   * throughout" are mostly those in which another process took its CPU for a while (when
   * it runs, it keeps up and waits for log). An average of those (measured on a
   * compute-bound pair: it fell to a third of the backup's speed) turned a 350 ms lag
   * into "1053 ms" and slept the primary at level 0.8; a backup that is really slower
   * shows it in every window, and one starved for longer than the windows kept is slow.
   */
  private backupRate = 0;
  private readonly backupRates = new Float64Array(RATE_WINDOWS_KEPT);
  private backupRateNext = 0;

  /**
   * The most the lag is taken to be: the time since the first sample (when the pair
   * formed: the primary's first slice with this backup, or the clone's snapshot), plus
   * the backup's declared starting lag. The backup has been behind for no longer than
   * that. The rate estimate exceeds it in two cases: the rate was measured too low (cold
   * or starved windows, see lagMs: then the estimate is wrong, a thousandfold in the case
   * seen), or the backup really is slower than its primary (then replaying its gap does
   * take longer than the pair has existed). The bound gives up
   * the second to rule out the first: a backup at a third of its primary's speed reads as
   * lagging by the pair's age instead of twice that, so its throttle starts when the pair
   * is 500-600 ms old (half the threshold, at the next adjustment) instead of 300 ms, and
   * is gentler in the first second or two, until the estimate falls below the bound
   * (test/throttle-rules.test.ts checks that it is still throttled within a second).
   */
  private lagBoundMs(nowMs: number): number {
    return (this.firstSampleMs === undefined ? 0 : Math.max(0, nowMs - this.firstSampleMs)) + this.startLagMs;
  }

  private noteBackupRate(rate: number): void {
    this.backupRates[this.backupRateNext] = rate;
    this.backupRateNext = (this.backupRateNext + 1) % RATE_WINDOWS_KEPT;
    this.backupRate = bestOf(this.backupRates);
  }

  /**
   * A new backup's catch-up, at the end of each rate window: `gap` is how many
   * instructions it trails by, `lag` the time that takes at its measured rate, `moved`
   * whether it replayed anything in the window. The measure starts at the first window
   * in which it replayed (not while it still copies or restores: its gap grows then, and
   * says nothing about its replay). The tolerance ends when the backup has caught up
   * (level, or within half the threshold at a measured rate: nothing is throttled there
   * anyway), when its gap has not shrunk since the check before at more than
   * CATCH_UP_MISSES_MAX checks in a row (a backup no faster than its primary never
   * catches up: it is throttled as any other; one that a neighbour kept off the CPU for
   * one check is not), or CATCH_UP_MS_MAX after it began to replay.
   *
   * "Caught up" needs a measured rate: a catching-up backup says it has replayed all it
   * has whenever it replays faster than the log arrives, and with its rate still unknown
   * lagMs reads that as "no lag"; ending there (as at first) let the throttle climb to
   * 0.95 on the rate of the backup's starved first windows (seen under load).
   */
  private noteCatchUp(nowMs: number, gap: number, lag: number, moved: boolean): void {
    const c = this.catchUp;
    if (!c) return;
    c.sinceMs ??= nowMs;
    if (c.checkMs === undefined) {
      // Not replaying yet: the copy and its restore (16-40 s seen at load 20) are not
      // counted against CATCH_UP_MS_MAX, but a backup that never starts is not waited for.
      if (nowMs - c.sinceMs >= CATCH_UP_START_MS_MAX) return this.endCatchUp();
      if (!moved) return;
      c.sinceMs = c.checkMs = nowMs;
      c.gap = gap;
      return;
    }
    const caughtUp = gap <= 0 || (this.backupRate > 0 && lag <= this.thresholdMs / 2);
    if (nowMs - c.sinceMs >= CATCH_UP_MS_MAX || caughtUp) return this.endCatchUp();
    if (nowMs - c.checkMs < CATCH_UP_CHECK_MS) return;
    // Compared with the last check's gap, not the lowest so far: a backup that lost a
    // second to a neighbour needs longer than the next second to win it back when it
    // gains slowly, and it still gains.
    const missed = gap >= c.gap;
    c.checkMs = nowMs;
    c.gap = gap;
    c.misses = missed ? c.misses + 1 : 0;
    if (c.misses > CATCH_UP_MISSES_MAX) return this.endCatchUp();
  }

  private endCatchUp(): void {
    this.catchUp = undefined;
    this.catchUpTolerated = false;
  }

  /** True while a new backup's starting lag is tolerated (it shrinks): the primary is not slowed for it. */
  get catchingUp(): boolean {
    return this.catchUpTolerated;
  }

  /** How long ago the primary stood where the backup stands now (0 when it is level). */
  private historyLagMs(nowMs: number, primaryIcount: number, backupIcount: number): number {
    if (backupIcount >= primaryIcount || this.count === 0) return 0;
    // The newest sample at or before the backup's icount: samples are in icount order.
    // (Index arithmetic inline, not in a closure: this runs after every slice, and a
    // closure made per call cost about 1% of a compute-bound primary's CPU under tsx,
    // whose keepNames wraps each one in a defineProperty call.)
    const first = this.head - this.count + SAMPLES_MAX;
    let lo = 0;
    let hi = this.count - 1;
    if (this.icounts[first % SAMPLES_MAX] > backupIcount) return nowMs - this.atMs[first % SAMPLES_MAX];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.icounts[(first + mid) % SAMPLES_MAX] <= backupIcount) lo = mid;
      else hi = mid - 1;
    }
    return nowMs - this.atMs[(first + lo) % SAMPLES_MAX];
  }

  /**
   * Adjusts the level from the current lag and returns how long to sleep before the next
   * slice (0 at full speed).
   */
  sleepMs(nowMs: number, lagMs: number): number {
    if (lagMs > this.lagMsMax) this.lagMsMax = lagMs;
    if (nowMs - this.lastAdjustMs >= ADJUST_INTERVAL_MS) {
      this.lastAdjustMs = nowMs;
      // The speed to aim for: the backup's own pace at the threshold, a little faster below
      // it (so the lag drifts back), slower above it, full speed under half of it. The
      // level moves toward that in small steps: the primary slows and speeds up gradually.
      let target: number;
      if (lagMs <= this.thresholdMs / 2 || this.catchUpTolerated) target = 0;
      else if (this.backupRate > 0 && this.primaryRate > 0) {
        const pace = Math.max(0, 2 - lagMs / this.thresholdMs) * this.backupRate;
        target = Math.min(THROTTLE_MAX, Math.max(0, 1 - pace / this.primaryRate));
      } else target = lagMs > this.thresholdMs ? this.level + ADJUST_STEP : this.level;
      const step = Math.max(-ADJUST_STEP, Math.min(ADJUST_STEP, target - this.level));
      this.level = Math.min(THROTTLE_MAX, Math.max(0, this.level + step));
      if (this.level > this.levelMax) this.levelMax = this.level;
    }
    if (this.level === 0) {
      this.debtMs = 0;
      return 0;
    }
    this.debtMs += (this.sliceMs * this.level) / (1 - this.level);
    if (this.debtMs < SLEEP_MS_MIN) return 0;
    const sleep = this.debtMs;
    this.debtMs = 0;
    this.lastSleepMs = sleep;
    return sleep;
  }
}

/** The largest value (0 for none). */
function bestOf(rates: Float64Array): number {
  let best = 0;
  for (let i = 0; i < rates.length; i++) if (rates[i] > best) best = rates[i];
  return best;
}
