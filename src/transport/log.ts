// Where a process's operating errors and refusals go. Each server and channel of
// ./channel.ts takes a Logger when it is made (ServerOptions.log, ConnectOptions.log), so
// two hosts in one process (tests, benchmarks) can log apart; one that names none uses
// the process's default below, which a CLI entry point sets once (setLogPrefix) and a
// test or benchmark may silence (setLogger).

export type Logger = (line: string) => void;

/** Refusal log lines per second, at most; the rest are counted in the next line. */
export const REFUSAL_LOG_LINES_PER_S_MAX = 10;

let prefix = "";
let destination: Logger = (line) => {
  process.stderr.write(`${prefix}${line}\n`);
};

/** The process's default logger: stderr with the process role as a prefix, unless replaced. */
export function log(line: string): void {
  destination(line);
}

export function setLogPrefix(p: string): void {
  prefix = p;
}

/** Replaces the process's default destination (servers and channels given their own logger are not affected). */
export function setLogger(f: Logger): void {
  destination = f;
}

/**
 * Refusal lines of one server or channel, at most REFUSAL_LOG_LINES_PER_S_MAX a second,
 * so a flood of bad peers does not turn into a flood of log lines; the count of lines left
 * out goes with the next line.
 */
export class RefusalLog {
  private windowStartMs = 0;
  private lines = 0;
  private suppressed = 0;

  constructor(
    private readonly out: Logger,
    private readonly nowMs: () => number = Date.now,
  ) {}

  line(text: string): void {
    const now = this.nowMs();
    if (now - this.windowStartMs >= 1000) {
      this.windowStartMs = now;
      this.lines = 0;
    }
    if (this.lines >= REFUSAL_LOG_LINES_PER_S_MAX) {
      this.suppressed++;
      return;
    }
    this.lines++;
    const more = this.suppressed > 0 ? ` (and ${this.suppressed} more refusals not shown)` : "";
    this.suppressed = 0;
    this.out(text + more);
  }
}
