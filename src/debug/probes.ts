// Software breakpoints on the decoded program: the instructions an observer wants to see
// get an unassigned opcode, so either engine stops in front of them (a trap that does
// not retire the instruction) and the debugger can look, run that one instruction with
// its real opcode, and go on. The compiled engine translates code once per machine, so
// every set of probes runs with an engine instance of its own; a few are kept.
import { compiledEngine } from "../vm/compile.js";
import { interpret } from "../vm/interp.js";
import type { Machine, RunResult } from "../vm/machine.js";

/** An unassigned opcode: executing it traps invalid-opcode without retiring (see Machine's decoder). */
const PROBE_OP = 0xfe;
/** Engines kept for recently used probe sets (each holds its own translations). */
const PROBE_ENGINES_MAX = 4;

type Engine = (m: Machine, limit: number) => RunResult;

export class Probes {
  private key = "";
  /** Patched pcs → their real opcode. */
  private readonly patched = new Map<number, number>();
  private readonly engines = new Map<string, Engine>();

  constructor(
    private readonly m: Machine,
    private readonly baseEngine: Engine,
    private readonly useInterpreter: boolean,
  ) {}

  /** True when the machine stopped on a probe (and not on a trap of the guest's own). */
  hit(): boolean {
    const m = this.m;
    return m.trap !== null && m.trap.kind === "invalid-opcode" && this.patched.has(m.pc);
  }

  /** Installs probes at `pcs`, replacing the previous set, with the engine for them. */
  set(pcs: ReadonlySet<number>): void {
    const m = this.m;
    const sorted = [...pcs].filter((pc) => pc >= 0 && pc < m.codeLength).sort((a, b) => a - b);
    const key = sorted.join(",");
    if (key === this.key) return;
    for (const [pc, op] of this.patched) m.ops[pc] = op;
    this.patched.clear();
    for (const pc of sorted) {
      this.patched.set(pc, m.ops[pc]);
      m.ops[pc] = PROBE_OP;
    }
    this.key = key;
    if (this.useInterpreter) return;
    if (key === "") {
      m.engine = this.baseEngine;
      return;
    }
    let engine = this.engines.get(key);
    if (!engine) {
      engine = compiledEngine();
      if (this.engines.size >= PROBE_ENGINES_MAX) this.engines.delete(this.engines.keys().next().value!);
      this.engines.set(key, engine);
    }
    m.engine = engine;
  }

  /** Executes the one instruction at pc with the reference interpreter, its real opcode restored. */
  stepOne(): RunResult {
    const m = this.m;
    const pc = m.pc;
    const orig = this.patched.get(pc);
    if (orig !== undefined) m.ops[pc] = orig;
    try {
      return interpret(m, m.icount + 1);
    } finally {
      if (orig !== undefined) m.ops[pc] = PROBE_OP;
      m.stopRequested = false;
    }
  }
}
