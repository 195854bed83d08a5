// `ftvm replay`: re-executes a recorded log in this process, from the program image the
// log carries, checking at every event that execution is in step. Console output is
// produced again, identically. Long replays show progress on a terminal.
import { Bus } from "../devices/bus.js";
import { EV } from "../devices/events.js";
import { ReplayEnv } from "../replay/replay.js";
import { ReplayRunner } from "../replay/session.js";
import { Tracer } from "../trace/tracer.js";
import { decodeImage } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import type { Trap } from "../vm/trap.js";
import { attachEngine } from "./engine.js";
import { ChunkFile, LogFileSource } from "./files.js";
import type { LogHeader } from "../replay/logformat.js";
import { realWorld } from "./world.js";

export interface ReplayRunOptions {
  logPath: string;
  tracePath?: string;
  traceIntervalIcount?: number;
  output: (bytes: Uint8Array) => void;
  /** Told how far the replay is, every step (the caller throttles its drawing); undefined for none. */
  progress?: (p: ReplayProgress) => void;
  interpret?: boolean;
}

/** How far a replay is: bytes of the log read (its size is the only total known before the END mark) and the icount reached. */
export interface ReplayProgress {
  logOffset: number;
  logBytes: number;
  icount: number;
}

export interface ReplayRunResult {
  /** "end": the END mark matched; "cut-off": the log ends without one. */
  outcome: "end" | "cut-off";
  /** Why the recording ended (from the END mark). */
  reason: string;
  icount: number;
  events: number;
  trap: Trap | null;
  program: string;
  offset: number;
  /** Bytes the guest transmitted on the network, and connections it closed (replay needs no network). */
  netBytes: number;
  netCloses: number;
}

/** Where a stitched log's history passed to another host (not a pair's new epoch on the same host). */
function takeoverPoints(epochs: LogHeader["epochs"]): { icount: number; epoch: number }[] {
  const out: { icount: number; epoch: number }[] = [];
  for (let i = 1; i < (epochs?.length ?? 0); i++) if (epochs![i].host !== epochs![i - 1].host) out.push({ icount: epochs![i].liveIcount, epoch: epochs![i].epoch });
  return out;
}

export function runReplay(o: ReplayRunOptions): ReplayRunResult {
  const source = new LogFileSource(o.logPath);
  const h = source.header;
  const image = decodeImage(h.image, `${o.logPath} (program image)`);
  const machine = new Machine(image, { memBytes: h.memBytes, stackBytes: h.stackBytes });
  if (!o.interpret) attachEngine(machine);
  const trace = o.tracePath ? new ChunkFile(o.tracePath) : undefined;
  const tracer = trace
    ? new Tracer(machine, { image: h.image, intervalIcount: o.traceIntervalIcount ?? 100_000, program: h.program, role: "replay" }, (c) => trace.write(c))
    : undefined;
  // The disk exists for the guest (same geometry), but no image is opened: every byte a
  // read returned is in the log, and writes were done when the run was recorded.
  const bus = new Bus(machine, undefined as never, { disk: h.disk ?? undefined });
  const env = new ReplayEnv(bus, source, { unloggedRand: h.unloggedRand, world: h.unloggedRand ? realWorld() : undefined, stopAfterInput: !!tracer });
  bus.env = env;
  const runner = new ReplayRunner(bus, env, { tracer });
  let reason = "";
  let netBytes = 0;
  let netCloses = 0;
  let outcome: ReplayRunResult["outcome"];
  // A log stitched from an FT run (ftvm ft --record): its trace marks where each new host
  // went live, as that host's own trace does, so trace diff compares each host's trace
  // with the part of the run it executed.
  const takeovers = tracer ? takeoverPoints(h.epochs) : [];
  try {
    for (;;) {
      while (takeovers.length > 0 && machine.icount >= takeovers[0].icount) {
        if (machine.icount === takeovers[0].icount) tracer!.liveMark(takeovers[0].epoch);
        takeovers.shift();
      }
      const ev = source.peek();
      if (ev && ev.kind === EV.END && machine.icount === ev.icount) reason = (ev.data as { reason: string }).reason;
      const r = runner.step(machine.icount, takeovers[0]?.icount);
      const out = bus.console.drainOutput();
      if (out.length > 0) o.output(out);
      for (const ch of bus.nic.drainOutput()) {
        netBytes += ch.bytes.length;
        if (ch.close) netCloses++;
      }
      if (r === "end") {
        outcome = "end";
        // Nothing may follow the END mark: a log with more is refused, not "matched".
        source.readToEnd();
        break;
      }
      if (r === "needs-log" || ((r === "halted" || r === "trapped") && !source.peek())) {
        outcome = "cut-off";
        break;
      }
      o.progress?.({ logOffset: source.fileOffset, logBytes: source.fileSize, icount: machine.icount });
    }
  } finally {
    // Flushed on divergence too: the trace up to the divergence is what trace diff needs.
    tracer?.flush();
    trace?.close();
  }
  return { outcome, reason, icount: machine.icount, events: env.lastLsn, trap: machine.trap, program: h.program, offset: source.fileOffset, netBytes, netCloses };
}

