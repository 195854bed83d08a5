// End-to-end tests wait on the run's event stream (docs/events.md), not on stderr text
// and not on fixed sleeps: a busy machine makes every step take longer, and text is for
// people. `RunStream` collects events (from `ftvm ft --json`, or from `onEvent` of an
// in-process launcher) and `waitFor` resolves at the first event that matches, failing
// past a generous deadline with what was awaited and the last events seen.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { type RunEvent, type RunEventType, parseEventLine } from "../../src/host/run-events.js";
import { ROOT } from "./guest-process.js";
import { ftvmArgs } from "./ftvm-args.js";

/** How long a test waits for an event by default: generous, since other work shares the machine. */
export const EVENT_DEADLINE_MS = 90_000;
/** How many of the last events a timeout message shows (status and console events left out). */
const EVENTS_SHOWN_MAX = 12;
/** How much of a process's stderr a timeout message shows (its end). */
const STDERR_SHOWN_CHARS_MAX = 2_000;

/** An event of one type, narrowed. */
export type EventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** The predicate of `waitFor`: any test on one event. */
type Match = (e: RunEvent) => boolean;

interface Waiter {
  match: Match;
  resolve(e: RunEvent): void;
}

/** One event in a line of a timeout message: its type and the fields that tell it apart. */
function brief(e: RunEvent): string {
  const { v: _v, t, type, ...rest } = e as RunEvent & Record<string, unknown>;
  const fields = Object.entries(rest)
    .filter(([k]) => k !== "options" && k !== "text")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" ");
  const text = "text" in e && typeof e.text === "string" ? ` "${e.text.slice(0, 120)}"` : "";
  return `  t=${t} ${type} ${fields}${text}`;
}

export class RunStream {
  readonly events: RunEvent[] = [];
  private waiters: Waiter[] = [];
  private endedWhy: string | undefined;
  private onEnd: ((why: string) => void)[] = [];

  /** Add an event (an in-process launcher's `onEvent` is `stream.push`). */
  readonly push = (e: RunEvent): void => {
    this.events.push(e);
    for (const w of [...this.waiters])
      if (w.match(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
  };

  /** No more events will come (the process exited, the run returned): waiters fail at once, saying so. */
  end(why: string): void {
    if (this.endedWhy !== undefined) return;
    this.endedWhy = why;
    for (const f of this.onEnd.splice(0)) f(why);
  }

  /** Every event of one type so far, narrowed. */
  all<T extends RunEventType>(type: T): EventOf<T>[] {
    return this.events.filter((e): e is EventOf<T> => e.type === type);
  }

  /** The guest's console output so far (the `console` events joined). */
  console(): string {
    return this.events.flatMap((e) => (e.type === "console" ? [e.text] : [])).join("");
  }

  /** The log lines so far (what stderr shows without --quiet). */
  logs(): string[] {
    return this.events.flatMap((e) => (e.type === "log" ? [e.text] : []));
  }

  /** The last events other than status and console, one per line, for a failure message. */
  recent(): string {
    const shown = this.events.filter((e) => e.type !== "status" && e.type !== "console").slice(-EVENTS_SHOWN_MAX);
    return shown.length === 0 ? "  (no events)" : shown.map(brief).join("\n");
  }

  /**
   * Resolves with the first event (already seen or still to come) that `match` accepts;
   * past `deadlineMs`, or when the stream ends first, rejects naming `what` and showing
   * the last events. `context` adds to that message (e.g. a process's stderr).
   */
  waitFor<E extends RunEvent = RunEvent>(what: string, match: Match, deadlineMs = EVENT_DEADLINE_MS, context?: () => string): Promise<E> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen as E);
    return new Promise<E>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        const extra = context?.() ?? "";
        reject(new Error(`${why} waiting for ${what}; the last events:\n${this.recent()}${extra ? `\n${extra}` : ""}`));
      };
      const w: Waiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          this.onEnd = this.onEnd.filter((f) => f !== onEnd);
          resolve(e as E);
        },
      };
      const onEnd = (why: string) => fail(`the stream ended (${why})`);
      const timer = setTimeout(() => fail(`timed out after ${deadlineMs} ms`), deadlineMs);
      this.waiters.push(w);
      if (this.endedWhy !== undefined) return onEnd(this.endedWhy);
      this.onEnd.push(onEnd);
    });
  }

  /** The first event of a type (optionally with more conditions). */
  waitForType<T extends RunEventType>(type: T, what: string = type, more: (e: EventOf<T>) => boolean = () => true, deadlineMs = EVENT_DEADLINE_MS): Promise<EventOf<T>> {
    return this.waitFor<EventOf<T>>(what, (e) => e.type === type && more(e as EventOf<T>), deadlineMs);
  }

  /** Resolves once `count` events match (e.g. two failovers), with the last of them. */
  async waitForCount(what: string, match: Match, count: number, deadlineMs = EVENT_DEADLINE_MS): Promise<RunEvent> {
    let n = 0;
    return this.waitFor(`${what} (${count} of them)`, (e) => match(e) && ++n >= count, deadlineMs);
  }
}

// Predicates for the moments e2e tests wait for.

/** The guest runs with a paired backup (the first pair, or redundancy restored by a clone). */
export const isPaired = (e: RunEvent): boolean => e.type === "protection" && e.protected;
/** A backup went live (a failover). */
export const isFailover = (e: RunEvent): boolean => e.type === "failover";
/** A host took a role (`role`, and optionally only the one started as `pid`). */
export const isRole = (role: string, pid?: number) => (e: RunEvent): boolean => e.type === "role" && e.role === role && (pid === undefined || e.pid === pid);

/** The run's counts of the kinds a summary gives, read from the events rather than its text. */
export function counts(events: readonly RunEvent[]): { failovers: number; clones: number; alone: number; kills: number; maxEpoch: number } {
  let maxEpoch = 0;
  for (const e of events) if ("epoch" in e && typeof e.epoch === "number" && e.type !== "first-output") maxEpoch = Math.max(maxEpoch, e.epoch);
  return {
    failovers: events.filter((e) => e.type === "failover").length,
    clones: events.filter((e) => e.type === "clone").length,
    alone: events.filter((e) => e.type === "alone").length,
    kills: events.filter((e) => e.type === "fault" && e.fault === "kill").length,
    maxEpoch,
  };
}

/** `ftvm ft … --json` as a child process, its stdout read as events. */
export interface FtProcess {
  child: ChildProcess;
  stream: RunStream;
  stderr(): string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** With --listen: where network clients connect (the `listening` event of the switch). */
  port(): Promise<number>;
  /** waitFor on the stream, with the end of this process's stderr in the failure message. */
  waitFor<E extends RunEvent = RunEvent>(what: string, match: Match, deadlineMs?: number): Promise<E>;
  /** Ctrl-C (the launcher stops, prints its summary and exits); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `ftvm ft <program> --json ...args` from the repository's root. */
export function spawnFt(program: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): FtProcess {
  const child = spawn(process.execPath, [...ftvmArgs(), "ft", program, "--json", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const stream = new RunStream();
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  let bad: string | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on("line", (line) => {
    try {
      stream.push(parseEventLine(line));
    } catch (e) {
      // A line that is not an event is a broken stream: the test must see it, not skip it.
      bad ??= `stdout carried a line that is not an event: ${(e as Error).message}`;
    }
  });
  const closed = new Promise<void>((r) => lines.on("close", () => r()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code, signal) => {
      // Every line already read goes to the stream before it is called ended.
      void closed.then(() => {
        stream.end(`ftvm ft exited with ${signal ?? code}${bad ? `; ${bad}` : ""}`);
        resolve(code);
      });
    }),
  );
  const stderrTail = () => `--- stderr (end):\n${err.slice(-STDERR_SHOWN_CHARS_MAX)}`;
  const waitFor = <E extends RunEvent = RunEvent>(what: string, match: Match, deadlineMs = EVENT_DEADLINE_MS) => stream.waitFor<E>(what, match, deadlineMs, stderrTail);
  return {
    child,
    stream,
    stderr: () => err,
    exited,
    waitFor,
    async port() {
      const e = await waitFor<EventOf<"listening">>("the switch's address", (x) => x.type === "listening" && x.service === "switch");
      return e.port;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      return exited;
    },
  };
}
