// The run's event stream: everything the launcher of `ftvm ft` (and the simulator, for
// `ftvm sim`) knows about a run, as typed events. One stream feeds every view of a run:
// `--json` prints it one object per line, the dashboard receives it over a WebSocket, a
// `--report` page embeds it, and the summary printed at the end is reduced from it (see
// run-summary.ts), so the views cannot disagree. The schema is documented in
// docs/events.md; a change that breaks a reader raises RUN_EVENTS_SCHEMA_VERSION.

/** Every event carries `v`: readers refuse a version they do not know. */
export const RUN_EVENTS_SCHEMA_VERSION = 1;

/** What the launcher knows of a host at one status report (every 250 ms per host). */
export interface StatusEvent {
  type: "status";
  host: string;
  pid: number;
  role: string;
  epoch: number;
  icount: number;
  /** Guest instructions per second since this host's previous status (absent on its first). */
  icountPerSec?: number;
  lagIcount?: number;
  lagMs?: number;
  throttle?: number;
  logBytesPerSec?: number;
  heldOutputs?: number;
  heldBytes?: number;
  heldWrites?: number;
}

/** The run's own lines in the summary that only the launcher's end knows (final counters). */
export interface EndEvent {
  type: "end";
  code: number;
  /** "halted" | "trapped" (the guest finished), "interrupted" (the user), "no-host" (every host is gone). */
  outcome: "halted" | "trapped" | "interrupted" | "no-host";
  icount?: number;
  elapsedMs: number;
  /** The finishing primary's log volume and run time, when the guest finished. */
  logWireBytes?: number;
  runMs?: number;
  /** The console sink's counters (absent for a simulated run). */
  sink?: { epoch: number; delivered: number; chunksAccepted: number; chunksDuplicate: number; duplicateBytes: number; refusedStale: number; divergences: number; refusedCluster: number; uncheckedBytes: number };
  disk?: { reads: number; writes: number; refusedStale: number; ioErrors: number; joined: number; diverged: number; refusedCluster: number };
  ownImages?: { dir: string; copiedBack?: string };
  net?: Record<string, number>;
  cluster?: string;
  /** Summary lines the run's options add (trace files, console input, divergences caught live, the stitched log). */
  extraLines?: string[];
  arbiterRestarts: number;
}

export type RunEventBody =
  /** First event of every stream. `source` says who produced it; `startedAt` is wall-clock ISO time (t counts from it). */
  | { type: "run"; source: "ft" | "sim"; program: string; startedAt: string; seed?: number; options: Record<string, unknown> }
  /** A service of the launcher accepts connections at this address (with `--listen`: the virtual switch network clients connect to). */
  | { type: "listening"; service: "switch"; host: string; port: number }
  /** A process the launcher started. `joiner`: a backup started to join a live primary by clone. */
  | { type: "spawn"; pid: number; role: "arbiter" | "primary" | "backup"; joiner: boolean }
  /**
   * A process ended. `kind`: "killed" (SIGKILL, ours or its own --crash-at-icount), "failed" (a host
   * exited non-zero while the run went on), "refused" (a joiner that never started: not a host failure),
   * "other" (a clean exit, or the end of the run).
   */
  | { type: "exit"; pid: number; role: "arbiter" | "primary" | "backup"; code: number | null; signal: string | null; kind: "killed" | "failed" | "refused" | "other" }
  | StatusEvent
  /** A host's role changed (from its news, at once, or its next status line). `from` is absent for its first role. */
  | { type: "role"; host: string; pid: number; role: string; from?: string; epoch: number }
  /** A host's own news line (went live, paired, cloning, ...): `event` is the host's event name. */
  | { type: "news"; host: string; pid: number; event: string; role?: string; epoch?: number; text: string }
  /**
   * A fault that was carried out. `by`: "script" (a --crash-... or --partition-... option), "user" (a key,
   * `ftvm crash`, the dashboard), "self" (a host's own --crash-at-icount).
   * fault: "kill" of `target` primary|backup|arbiter; "partition" | "drop-channel" of the log channel;
   * "slow-backup" (on: true/false) of the backup. A simulated partition has a start and an end
   * (on: true/false) and names its `link`; a real one (SIGUSR2 to both hosts) has no end.
   */
  | { type: "fault"; fault: "kill" | "partition" | "drop-channel" | "slow-backup"; target: "primary" | "backup" | "arbiter" | "channel"; by: "script" | "user" | "self"; pid?: number; epoch?: number; on?: boolean; link?: string }
  /** A fault asked for that was not carried out now, and why (a kill never takes the last live host). */
  | { type: "fault-refused"; fault: string; target: string; reason: string; by?: "script" | "user" }
  /**
   * The backup went live. detectionMs: silence the failure detector heard before it suspected the
   * primary; replayMs: draining the received log; tasMs: the arbiter's test-and-set; fromKillMs: from
   * the launcher's SIGKILL of the primary to this event (absent when no kill preceded it).
   */
  | { type: "failover"; host: string; pid: number; epoch: number; icount: number; detectionMs: number; replayMs: number; tasMs: number; resentBytes: number; fromKillMs?: number }
  /** The first output of an epoch reached the sink (it may come just before that epoch's failover event: the new primary re-sends, then reports). */
  | { type: "first-output"; epoch: number }
  /** The backup failed: the primary won `epoch` alone and runs on unprotected. */
  | { type: "alone"; host: string; pid: number; epoch: number }
  /**
   * Redundancy restored: a new backup joined `host` (the primary) by clone in `epoch`. pauseMs: the
   * primary's pause to snapshot; cloneMs: join request to paired; fromSpawnMs: from starting the joiner's process.
   */
  | { type: "clone"; host: string; pid: number; epoch: number; icount: number; memBytes: number; cloneMs: number; pauseMs?: number; fromSpawnMs?: number; sendMs?: number; sendWallMs?: number }
  | { type: "clone-failed"; host: string; pid: number; reason: string }
  /** The launcher stopped starting new backups (too many failed clones in a row). */
  | { type: "respawn-stopped"; reason: string }
  /** The guest is (or is no longer) protected by a paired backup. `unprotectedMs`: total time unprotected so far. */
  | { type: "protection"; protected: boolean; unprotectedMs: number }
  /** Re-sent output that differed from what was written, refused by the console sink, the shared disk or the switch. */
  | { type: "divergence"; where: "sink" | "disk" | "switch" | "replay"; host?: string; epoch?: number; offset?: number; reason: string }
  /** Guest console output as the sink released it (UTF-8, decoded as a stream). */
  | { type: "console"; text: string }
  /** A log line of the launcher or a host (what stderr shows without --quiet). */
  | { type: "log"; text: string }
  /** The arbiter process died and was restarted with its state. */
  | { type: "arbiter-restart"; count: number }
  /**
   * Network clients connected to the switch now (and ever), disk requests the shared disk is
   * performing or has queued now, and writes held for the backup's acknowledgement, when the
   * run has them (every second).
   */
  | { type: "io"; netClients?: number; netClientsEver?: number; netBytesIn?: number; netBytesOut?: number; diskReads?: number; diskWrites?: number; diskPending?: number; heldWrites?: number }
  | EndEvent
  /** The last event: the summary text the launcher printed, reduced from the events before it. */
  | { type: "summary"; code: number; text: string; failovers: number; clones: number; kills: number; unprotectedMs: number };

/** An event on the stream: its body plus the schema version and the time since the run's start (ms). */
export type RunEvent = RunEventBody & { v: number; t: number };
export type RunEventType = RunEvent["type"];

/** Events a late subscriber (a page opened mid-run, a report) gets, apart from status and console. */
export const eventsKeptMax = 20_000;
/** Status samples kept for late subscribers; past this, every other one is dropped (older points thin out). */
export const statusKeptMax = 4_000;
/** Console text kept for late subscribers, in characters (the newest). */
export const consoleKeptCharsMax = 256 * 1024;
/** Dropped console chunks are cut from the array once this many have piled up at its front (and they are half of it). */
const CONSOLE_HEAD_COMPACT = 1024;

type Listener = (e: RunEvent) => void;

/**
 * The bus. `emit` stamps an event with the version and time and hands it to every
 * listener, in the order they subscribed; the bus keeps a bounded history for listeners
 * that come later (see `history`).
 */
export class RunEvents {
  private readonly listeners: Listener[] = [];
  private readonly kept: RunEvent[] = [];
  private keptDropped = 0;
  private status: RunEvent[] = [];
  /** Status samples are kept one in `statusStride` once the buffer has been thinned. */
  private statusStride = 1;
  private statusSeen = 0;
  /**
   * The newest console text, as the chunks it arrived in (joined only when a late
   * subscriber asks): appending to one string and cutting its front at every chunk
   * copied up to consoleKeptCharsMax characters per chunk, 190 ms of the launcher's CPU
   * for count.s's 6.9 MB, on the thread that serves the console sink.
   */
  private consoleChunks: string[] = [];
  /** Chunks before this index are dropped (an index, not shift(): many small chunks must not cost a copy each). */
  private consoleHead = 0;
  private consoleChars = 0;
  private consoleDropped = 0;

  constructor(
    /** The run's start on the clock `now` reads (ms). */
    readonly startMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  subscribe(l: Listener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Time since the run's start, as events carry it. */
  elapsedMs(): number {
    return Math.max(0, Math.round(this.now() - this.startMs));
  }

  emit(body: RunEventBody, tMs?: number): RunEvent {
    const e = { v: RUN_EVENTS_SCHEMA_VERSION, t: tMs ?? this.elapsedMs(), ...body } as RunEvent;
    this.keep(e);
    for (const l of [...this.listeners]) l(e);
    return e;
  }

  private keep(e: RunEvent): void {
    if (e.type === "status") {
      if (this.statusSeen++ % this.statusStride !== 0) return;
      this.status.push(e);
      if (this.status.length > statusKeptMax) {
        // Halve the resolution of everything kept so far, and keep new samples as sparsely.
        this.status = this.status.filter((_, i) => i % 2 === 0);
        this.statusStride *= 2;
      }
      return;
    }
    if (e.type === "console") {
      this.consoleChunks.push(e.text);
      this.consoleChars += e.text.length;
      // Whole chunks go from the front while the rest is still over the bound; the first
      // kept chunk is cut to fit, so exactly the newest consoleKeptCharsMax characters stay.
      while (this.consoleChars > consoleKeptCharsMax) {
        const first = this.consoleChunks[this.consoleHead];
        const over = this.consoleChars - consoleKeptCharsMax;
        if (first.length <= over) {
          this.consoleChunks[this.consoleHead++] = "";
          this.consoleChars -= first.length;
          this.consoleDropped += first.length;
        } else {
          this.consoleChunks[this.consoleHead] = first.slice(over);
          this.consoleChars -= over;
          this.consoleDropped += over;
        }
      }
      if (this.consoleHead > CONSOLE_HEAD_COMPACT && this.consoleHead * 2 > this.consoleChunks.length) {
        this.consoleChunks = this.consoleChunks.slice(this.consoleHead);
        this.consoleHead = 0;
      }
      return;
    }
    // The first event (the run's header) is always kept: a reader needs it.
    this.kept.push(e);
    if (this.kept.length > eventsKeptMax) {
      this.kept.splice(1, 1);
      this.keptDropped++;
    }
  }

  /**
   * What a late subscriber needs to draw the run so far: the kept events in order (status
   * samples thinned, the console as one event with its newest text), and how much was
   * dropped to stay within the bounds above.
   */
  history(): { events: RunEvent[]; droppedEvents: number; droppedConsoleChars: number } {
    const merged = [...this.kept, ...this.status].sort((a, b) => a.t - b.t);
    const events = merged;
    if (this.consoleChars > 0) {
      const text = this.consoleChunks.slice(this.consoleHead).join("");
      this.consoleChunks = [text];
      this.consoleHead = 0;
      const last = merged.at(-1)?.t ?? 0;
      events.push({ v: RUN_EVENTS_SCHEMA_VERSION, t: last, type: "console", text });
    }
    return { events, droppedEvents: this.keptDropped, droppedConsoleChars: this.consoleDropped };
  }
}

/** One event as one line of `--json` output. */
/** A host's "live" news as a failover event (the launcher and the simulator's mapping read the same fields). */
export function failoverEvent(host: string, pid: number, epoch: number, d: Record<string, unknown>, fromKillMs?: number): RunEventBody {
  return {
    type: "failover",
    host,
    pid,
    epoch,
    icount: Number(d.icount),
    detectionMs: Number(d.silentMs),
    replayMs: Number(d.replayMs),
    tasMs: Number(d.electMs),
    resentBytes: Number(d.resent),
    ...(fromKillMs !== undefined ? { fromKillMs } : {}),
  };
}

export function eventLine(e: RunEvent): string {
  return JSON.stringify(e) + "\n";
}

/** Parses one line of a stream; a clear error for a line that is not an event of a known version. */
export function parseEventLine(line: string): RunEvent {
  let e: unknown;
  try {
    e = JSON.parse(line);
  } catch {
    throw new Error(`not JSON: ${line.slice(0, 80)}`);
  }
  if (typeof e !== "object" || e === null || typeof (e as RunEvent).type !== "string" || typeof (e as RunEvent).t !== "number") throw new Error(`not a run event: ${line.slice(0, 80)}`);
  if ((e as RunEvent).v !== RUN_EVENTS_SCHEMA_VERSION) throw new Error(`run event schema version ${String((e as RunEvent).v)}, this reader knows ${RUN_EVENTS_SCHEMA_VERSION}`);
  return e as RunEvent;
}
