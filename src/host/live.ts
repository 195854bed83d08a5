// `ftvm run` and `ftvm record`: the guest runs live on this host, with the real clock,
// the OS random source, stdin as console input and stdout as console output. With a log
// path every nondeterministic event goes to the log file; with a trace path the state is
// traced. Ctrl-C stops cleanly and leaves a valid log (ending with an END mark).
import { performance } from "node:perf_hooks";
import { Bus } from "../devices/bus.js";
import type { Event } from "../devices/events.js";
import { LiveEnv } from "../replay/live.js";
import { encodeLogFrame, encodeLogHeader } from "../replay/logformat.js";
import { LiveRunner, traceDelivered } from "../replay/session.js";
import { Tracer } from "../trace/tracer.js";
import type { Image } from "../vm/image.js";
import { encodeImage } from "../vm/image.js";
import { Machine } from "../vm/machine.js";
import type { Trap } from "../vm/trap.js";
import { attachEngine } from "./engine.js";
import { FileDisk } from "./disk.js";
import { ChunkFile } from "./files.js";
import { NetServer } from "./netserver.js";
import { realWorld } from "./world.js";
import { LOG_BATCH_BYTES_MAX, eventBytes } from "../replay/eventsize.js";

/** Events are written to the log in batches of at most this many (one frame each). */
export const LOG_BATCH_EVENTS_MAX = 4096;
/** The loop yields to Node's event loop at least this often, so input and signals get in. */
const YIELD_INTERVAL_MS = 10;

export interface LiveRunOptions {
  program: string;
  image: Image;
  memBytes?: number;
  stackBytes?: number;
  maxIcount?: number;
  logPath?: string;
  tracePath?: string;
  traceIntervalIcount?: number;
  unloggedRand?: boolean;
  hostId?: number;
  /** Feed this process's stdin to the console. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; pause(): void; resume(): void };
  /** Where guest console output goes. */
  output: (bytes: Uint8Array) => void;
  /** Use the reference interpreter instead of the compiled engine. */
  interpret?: boolean;
  /** A disk image (ftvm disk create) the guest reads and writes. */
  diskPath?: string;
  /** Serve the guest's NIC on a real TCP port (port 0 picks a free one). */
  listen?: { host?: string; port: number };
  /** Called once the TCP server listens, with the address it bound. */
  onListening?: (addr: { host: string; port: number }) => void;
  /** Where network log lines go (a disconnected client); default stderr. */
  netLog?: (line: string) => void;
  /** Asked once this run's own SIGINT handler is in place: whether Ctrl-C was pressed before (the run then stops at once, its log complete). */
  interruptedBeforeStart?: () => boolean;
}

export interface LiveRunResult {
  reason: "halted" | "trapped" | "max-icount" | "interrupted" | "deadlock";
  icount: number;
  trap: Trap | null;
  logBytes: number;
  events: number;
  traceRecords: number;
  /** Wall time of the run loop (host clock), for speed figures. */
  runMs: number;
  /** CPU time this process spent in the run loop (user + system), for speed figures. */
  cpuMs: number;
  /** The last host error behind a DISK_E_IO completion, if any request failed. */
  diskError?: string;
}

export async function runLive(o: LiveRunOptions): Promise<LiveRunResult> {
  // Opened first, so a bad image is reported before anything is written. Completions wake
  // the loop through poke (defined below, called only later).
  const disk = o.diskPath ? await FileDisk.open(o.diskPath, () => poke()) : undefined;
  const machine = new Machine(o.image, { memBytes: o.memBytes, stackBytes: o.stackBytes });
  if (!o.interpret) attachEngine(machine);
  // Listen before creating any file: a port in use should leave nothing behind.
  const net = o.listen ? await NetServer.listen({ ...o.listen, log: o.netLog ?? ((line) => process.stderr.write(`ftvm: ${line}\n`)) }) : undefined;
  const log = o.logPath ? new ChunkFile(o.logPath) : undefined;
  const trace = o.tracePath ? new ChunkFile(o.tracePath) : undefined;
  const imageBytes = encodeImage(o.image);
  let batch: Event[] = [];
  let batchBytes = 0;
  let events = 0;
  const flushLog = () => {
    if (log && batch.length > 0) log.write(encodeLogFrame(batch));
    batch = [];
    batchBytes = 0;
  };
  const emit = (e: Event) => {
    events++;
    if (!log) return;
    batch.push(e);
    batchBytes += eventBytes(e);
    if (batch.length >= LOG_BATCH_EVENTS_MAX || batchBytes >= LOG_BATCH_BYTES_MAX) flushLog();
  };
  log?.write(
    encodeLogHeader({
      image: imageBytes,
      memBytes: machine.memBytes,
      stackBytes: machine.stackBytes,
      unloggedRand: !!o.unloggedRand,
      program: o.program,
      ...(disk ? { disk: disk.geometry } : {}),
    }),
  );
  const tracer = trace
    ? new Tracer(machine, { image: imageBytes, intervalIcount: o.traceIntervalIcount ?? 100_000, program: o.program, role: log ? "record" : "run" }, (c) => trace.write(c))
    : undefined;
  const bus = new Bus(machine, undefined as never, { disk: disk?.geometry });
  const world = realWorld(o.hostId);
  const env = new LiveEnv(bus, { ...world, disk, ...(net ? { net: net.inbox } : {}) }, emit, {
    unloggedRand: o.unloggedRand,
    stopAfterInput: !!tracer,
    onDelivered: tracer ? traceDelivered(tracer) : undefined,
  });
  bus.env = env;
  const runner = new LiveRunner(bus, env, { maxIcount: o.maxIcount, tracer });

  // Wake-ups for a waiting guest: input arrived, Ctrl-C, or the timer is due.
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    poke();
  };
  process.on("SIGINT", onSigint);
  // A Ctrl-C that came before this run began (while the CLI loaded) stops it at once.
  if (o.interruptedBeforeStart?.()) interrupted = true;
  if (net) {
    net.onActivity = poke;
    o.onListening?.(net.address());
  }

  let stdinEnded = !o.stdin;
  const stdin = o.stdin;
  const onData = (chunk: Buffer) => {
    if (!env.postConsole(new Uint8Array(chunk))) {
      // The guest is not reading: stop reading until it catches up (nothing is dropped).
      stdin!.pause();
      pendingChunk = new Uint8Array(chunk);
    }
    poke();
  };
  let pendingChunk: Uint8Array | undefined;
  const onEnd = () => {
    stdinEnded = true;
    if (!pendingChunk) env.endConsole();
    poke();
  };
  if (stdin) {
    stdin.on("data", onData);
    stdin.on("end", onEnd);
  }

  let reason: LiveRunResult["reason"];
  let lastYield = Date.now();
  const startedMs = performance.now();
  const startedCpu = process.cpuUsage();
  try {
    for (;;) {
      if (interrupted) {
        reason = "interrupted";
        break;
      }
      if (pendingChunk && env.postConsole(pendingChunk)) {
        pendingChunk = undefined;
        if (stdinEnded) env.endConsole();
        else stdin!.resume();
      }
      const r = runner.step();
      const out = bus.console.drainOutput();
      if (out.length > 0) o.output(out);
      // What the guest transmitted goes out after every step, as the NIC expects.
      const sent = bus.nic.drainOutput();
      if (net) {
        if (sent.length > 0) net.transmit(sent);
        net.poll();
      }
      if (r === "halted" || r === "trapped" || r === "max-icount") {
        reason = r;
        break;
      }
      if (r === "waiting") {
        flushLog();
        if (env.hasPending()) continue;
        const deadline = env.timerDeadline();
        if (deadline === undefined && stdinEnded && !pendingChunk && env.diskRequestsInFlight === 0 && !net) {
          reason = "deadlock";
          break;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (deadline !== undefined) {
            const ms = Math.max(0, (deadline - env.nowUs()) / 1000);
            setTimeout(poke, ms);
          }
        });
        lastYield = Date.now();
        continue;
      }
      if (Date.now() - lastYield >= YIELD_INTERVAL_MS) {
        flushLog();
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = Date.now();
      }
    }
    runner.end(reason);
    flushLog();
    tracer?.flush();
  } finally {
    process.off("SIGINT", onSigint);
    if (stdin) {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.pause();
    }
    log?.close();
    trace?.close();
    // Requests the guest left outstanding still reach the image before it is closed.
    await disk?.close();
    await net?.close();
  }
  const runMs = performance.now() - startedMs;
  const cpu = process.cpuUsage(startedCpu);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const diskError = disk?.lastError?.message;
  return { reason, icount: machine.icount, trap: machine.trap, logBytes: log?.bytes ?? 0, events, traceRecords: tracer?.records ?? 0, runMs, cpuMs, ...(diskError ? { diskError } : {}) };
}
