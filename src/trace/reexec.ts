// `ftvm trace diff --log RUN.ftlog`: from the run's log, re-execute the stretch between
// the last record two traces agree on and the first where they differ, and name the
// instruction (pinpoint.ts). Both traces' hosts executed the same program on the same
// log, so from the common record on, each instruction's result is determined by the
// state, except where the guest reads an input. The re-execution runs two machines in
// lockstep from that record: the reference interpreter and the compiled engine (the one
// hosts run). It names the first instruction whose result differs between them, or the
// first instruction that reads an input the log does not have there (a host that read
// RAND or TIME without logging it). When neither happens, it says which trace's next
// record the program and log reproduce: the other host executed differently (its engine
// or memory), somewhere in that stretch.
//
// Pure: the caller reads the log and passes its events.
import { Bus } from "../devices/bus.js";
import type { DiskGeometry } from "../devices/disk.js";
import type { Event } from "../devices/events.js";
import { ReplayEnv } from "../replay/replay.js";
import { ReplayRunner } from "../replay/session.js";
import { memDigest, regsDigest } from "../vm/digest.js";
import type { Image } from "../vm/image.js";
import { interpret } from "../vm/interp.js";
import { Machine, type RunResult } from "../vm/machine.js";
import type { TraceRecord } from "./format.js";
import { type Pinpoint, describePinpoint, pinpoint } from "./pinpoint.js";
import { Tracer } from "./tracer.js";

export interface ReexecInput {
  image: Image;
  memBytes: number;
  stackBytes: number;
  disk?: DiskGeometry;
  events: readonly Event[];
  intervalIcount: number;
  /** The last record both traces agree on, and each trace's next record. */
  prev: TraceRecord;
  nextA: TraceRecord;
  nextB: TraceRecord;
  /** The compiled engine (from src/vm/compile.ts), for the second machine. */
  compiled: () => (m: Machine, limit: number) => RunResult;
  disasm: (pc: number) => string;
}

export interface ReexecResult {
  lines: string[];
  pinpoint?: Pinpoint;
}

export class ReexecError extends Error {}

export function reexecute(i: ReexecInput): ReexecResult {
  const a = reach(i, "interpret");
  const b = reach(i, "compiled");
  const until = Math.min(i.nextA.icount, i.nextB.icount);
  const p = pinpoint(a, b, until);
  if (p.found) return { lines: describePinpoint(p, i.disasm, { a: "the reference interpreter", b: "the compiled engine" }), pinpoint: p };
  const lines = [`  re-executed ${p.steps} instructions from icount ${i.prev.icount} (the reference interpreter and the compiled engine in lockstep): every result agrees, and no instruction reads an input the log lacks`];
  const agrees = (r: TraceRecord) => r.icount === a.icount && r.regsDigest === regsDigest(a) && r.memDigest === memDigest(a);
  const okA = agrees(i.nextA);
  const okB = agrees(i.nextB);
  if (okA !== okB)
    lines.push(`  the program and the log reproduce the ${okA ? "first" : "second"} trace's record at icount ${a.icount}: the ${okA ? "second" : "first"} trace's host executed differently from its program and log (its engine or its memory) between icount ${i.prev.icount} and ${a.icount}`);
  else if (!okA) lines.push(`  neither trace's record at icount ${until} is what the program and the log give there`);
  return { lines, pinpoint: p };
}

/** A machine replaying the log, standing at the state of record `prev`. */
function reach(i: ReexecInput, engine: "interpret" | "compiled"): Machine {
  const m = new Machine(i.image, { memBytes: i.memBytes, stackBytes: i.stackBytes });
  // The compiled engine reaches the record faster; the first machine then steps with the reference interpreter.
  m.engine = i.compiled();
  const bus = new Bus(m, undefined as never, { disk: i.disk });
  let next = 0;
  const env = new ReplayEnv(bus, { peek: () => i.events[next], take: () => void next++ }, { stopAfterInput: true });
  bus.env = env;
  const tracer = new Tracer(m, { image: new Uint8Array(0), intervalIcount: i.intervalIcount, program: "", role: "replay" }, () => undefined);
  const runner = new ReplayRunner(bus, env, { tracer });
  const last = i.events.length ? i.events[i.events.length - 1].icount : 0;
  const target = i.prev;
  for (;;) {
    if (m.icount === target.icount && regsDigest(m) === target.regsDigest && memDigest(m) === target.memDigest) break;
    if (m.icount > target.icount) throw new ReexecError(`the log does not reproduce the last common record (icount ${target.icount}): re-execution passed it at icount ${m.icount} with other state`);
    let r;
    try {
      r = runner.step(Math.max(last, target.icount), target.icount);
    } catch (e) {
      throw new ReexecError(`the log does not reproduce the last common record (icount ${target.icount}): ${(e as Error).message}`);
    }
    if (r !== "continue" && m.icount < target.icount) throw new ReexecError(`the log does not reproduce the last common record (icount ${target.icount}): re-execution stopped at icount ${m.icount} (${r})`);
    if (r !== "continue" && m.icount === target.icount && !(regsDigest(m) === target.regsDigest && memDigest(m) === target.memDigest))
      throw new ReexecError(`the log does not reproduce the last common record (icount ${target.icount}): the state there differs`);
  }
  if (engine === "interpret") m.engine = interpret;
  // From here the sides answer inputs from the rest of the log, without stopping after each.
  const rest = new ReplayEnv(bus, { peek: () => i.events[next], take: () => void next++ }, {});
  rest.lastLsn = env.lastLsn;
  bus.env = rest;
  return m;
}
