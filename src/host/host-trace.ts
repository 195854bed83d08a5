// An FT host's execution trace (`ftvm primary|backup --trace FILE`, `ftvm ft --trace-dir`):
// the file is opened when the node's machine stands where this host's execution starts
// (boot, or a restored clone), and the header says which host, in which epoch and from
// which icount. The node flushes the trace before each log batch leaves (a primary killed
// later has traced all its backup will replay); a backup's trace is flushed by this
// shell every TRACE_FLUSH_INTERVAL_MS, when it goes live and when it stops.
import type { NodeConfig } from "../ft/node.js";
import { Tracer, TRACE_INTERVAL_DEFAULT } from "../trace/tracer.js";
import { HostError } from "./errors.js";
import { ChunkFile } from "./files.js";

/** A bad --trace or --trace-interval is a usage error. */
const EXIT_BAD_TRACE_OPTION = 2;

/** A backup's trace records reach the file at least this often (a SIGKILL loses at most this much of it). */
export const TRACE_FLUSH_INTERVAL_MS = 200;

export class HostTrace {
  private file?: ChunkFile;
  tracer?: Tracer;

  constructor(
    readonly path: string,
    private readonly host: string,
    private readonly intervalIcount = TRACE_INTERVAL_DEFAULT,
  ) {
    if (!(intervalIcount > 0)) throw new HostError(`--trace-interval must be positive, got ${intervalIcount}`, EXIT_BAD_TRACE_OPTION);
    // Opened (and created empty) at once, so a path that cannot be written is an error at
    // the start, not when the guest starts running.
    this.file = new ChunkFile(path);
  }

  /** The node's hook (NodeConfig.tracer): one trace per host, opened once. */
  readonly open: NonNullable<NodeConfig["tracer"]> = (machine, start) => {
    if (this.tracer) return this.tracer;
    this.tracer = new Tracer(
      machine,
      { image: start.image, intervalIcount: this.intervalIcount, program: start.program, role: start.role, host: this.host, epoch: start.epoch, startIcount: machine.icount },
      // After close() (the host is stopping) nothing more is written.
      (c) => this.file?.write(c),
    );
    return this.tracer;
  };

  flush(): void {
    this.tracer?.flush();
  }

  close(): void {
    this.flush();
    this.file?.close();
    this.file = undefined;
  }
}
