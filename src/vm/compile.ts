// The compiled engine: translates hot guest code into JavaScript (with `new Function`) and
// runs it, matching the reference interpreter (src/vm/interp.ts) bit for bit, including
// traps, and stopping at exactly `limit` instructions.
//
// Translation. Code is immutable and separate from data, so it is translated once per
// machine, lazily: the dispatcher (`run` below) counts how often it reaches each block
// start that is not compiled yet; when one becomes hot, a REGION is compiled rooted there:
// the basic blocks statically reachable from it (fall-through, branch and call targets,
// return sites, the instruction after a sys instruction), up to regionInstructionsMax
// instructions, stopping at blocks that are already entries of another region. A region
// is ONE JavaScript function with the guest registers in locals, its loop nests as real
// JS loops and the rest dispatched by a switch (see compile-gen.ts for its shape).
//
// Exactness rules:
// - Budget: a block runs only when the budget holds all of it; otherwise the region exits
//   at the block's start and the dispatcher interprets the last few instructions of the
//   slice, so icount === limit exactly on "continue".
// - Traps: every check that could trap (bounds, alignment, division by zero, stack range,
//   code range of a jump) bails out BEFORE the instruction has any effect, with pc at it
//   and icount counting only the instructions before it; the dispatcher then runs that one
//   instruction in the reference interpreter, which raises the identical trap (same kind,
//   same detail). HALT, invalid opcodes and the end of code bail out the same way.
// - Sys instructions (IN, OUT, TIME, RAND, HOSTID, EI, IRET, WFI; isa/table.ts `sys`) end
//   the region's straight-line code: the region writes its state back and exits, and the
//   dispatcher executes the instruction with `execSys`, a line-for-line mirror of the
//   interpreter's cases (the interpreter itself cannot be used for one step: its `finish`
//   clears stopRequested, so a caller could not tell whether run() must return).
// - Dynamic jumps (JR, CALLR, RET) look the target up in the region's block map and
//   continue there, or leave the region for the dispatcher.
// - Stores mark their page dirty, exactly like the interpreter.
//
// V8 notes. Budgets are handed to a region in chunks of at most chunkIcount instructions
// (100k): V8 runs a freshly entered optimized function faster than code it optimized on
// stack during one long call. A new region's first calls get small budgets (RAMP_*), every
// generated source is unique (see compileAt), and the machine's arrays are closure
// constants: each of these measurably avoided repeated deoptimizations or slow code.
import { BY_OP, OP, SP } from "../../isa/table.js";
import { EXIT_INTERPRET, generateRegion, isConditional } from "./compile-gen.js";
import { interpret } from "./interp.js";
import type { Machine, RunResult } from "./machine.js";

/** A compiled region: runs from m.pc for at most `budget` instructions; returns an EXIT_ code. */
type RegionFn = (m: Machine, budget: number) => number;

interface Region {
  readonly fn: RegionFn;
  /** Calls so far, counted up to RAMP_CALLS. */
  calls: number;
}

export interface CompileOptions {
  /** Dispatches to a not-yet-compiled address before a region is compiled there (1: at once). */
  hotThreshold?: number;
  /** Most instructions one region's budget covers per call. */
  chunkIcount?: number;
  /** Most guest instructions per region (bounds the size of each generated function). */
  regionInstructionsMax?: number;
  /** Longest basic block; longer straight-line code is split. */
  blockInstructionsMax?: number;
  /** Called with each generated function's source (for debugging and tests). */
  onCompile?: (info: { root: number; blocks: number; instructions: number; entries: number; source: string }) => void;
}

const HOT_THRESHOLD_DEFAULT = 4;
const CHUNK_ICOUNT_DEFAULT = 100_000;
const REGION_INSTRUCTIONS_MAX_DEFAULT = 1200;
const BLOCK_INSTRUCTIONS_MAX_DEFAULT = 64;
/**
 * A new region's first calls get small budgets, so its exit path runs (and gathers type
 * feedback) early: code V8 optimizes on-stack during one long first call would lack
 * feedback for the exit and deoptimize at every exit from then on.
 */
const RAMP_CALLS = 256;
const RAMP_BUDGET = 1000;

/** Numbers generated functions (see compileAt). */
let regionSerial = 0;

const IS_SYS = new Uint8Array(256);
const IS_END = new Uint8Array(256);
for (let op = 0; op < 256; op++) {
  const s = BY_OP[op];
  if (!s) {
    IS_END[op] = 1; // unassigned opcodes (and OP_END) trap
    continue;
  }
  if (s.sys) IS_SYS[op] = 1;
  if (s.ends) IS_END[op] = 1;
}

/** Per-machine translation state, built on the first run (cheap: a few linear passes). */
class Compiled {
  readonly n: number;
  /** Instructions from pc to the end of its basic block (sys instructions are blocks of their own). */
  readonly span: Uint8Array;
  /** Block starts where a region may be rooted (cleared where compiling is given up). */
  readonly leader: Uint8Array;
  /** Interrupt handlers (SETVEC targets): entered from the dispatcher. */
  readonly handler: Uint8Array;
  readonly hits: Uint32Array;
  /** The region whose entry (case label) each block start is. */
  readonly entry: (Region | undefined)[];
  regions = 0;
  /** Guest instructions compiled so far (blocks inside loops may be compiled more than once). */
  compiledInstructions = 0;

  constructor(
    readonly m: Machine,
    readonly opts: Required<Omit<CompileOptions, "onCompile">> & Pick<CompileOptions, "onCompile">,
  ) {
    const n = m.codeLength;
    this.n = n;
    const ops = m.ops, imm = m.imm;
    const leader = new Uint8Array(n + 1);
    const handler = new Uint8Array(n + 1);
    if (n > 0) leader[m.image.entry < n ? m.image.entry : 0] = 1;
    leader[0] = 1;
    for (let i = 0; i < n; i++) {
      const op = ops[i];
      if (IS_END[op] || IS_SYS[op]) leader[i + 1] = 1;
      if (IS_SYS[op]) leader[i] = 1;
      const s = BY_OP[op];
      if ((s?.target || op === OP.SETVEC) && imm[i] >= 0 && imm[i] < n) leader[imm[i]] = 1;
      if (op === OP.SETVEC && imm[i] >= 0 && imm[i] < n) handler[imm[i]] = 1;
    }
    const span = new Uint8Array(n + 1);
    const maxB = opts.blockInstructionsMax;
    span[n] = 1;
    for (let i = n - 1; i >= 0; i--) {
      const op = ops[i];
      if (IS_END[op] || IS_SYS[op] || leader[i + 1] || IS_SYS[ops[i + 1]]) span[i] = 1;
      else if (span[i + 1] >= maxB) {
        leader[i + 1] = 1;
        span[i] = 1;
      } else span[i] = span[i + 1] + 1;
    }
    this.leader = leader;
    this.handler = handler;
    this.span = span;
    this.hits = new Uint32Array(n + 1);
    this.entry = new Array(n + 1).fill(undefined);
  }

  /** Compiles the region rooted at `root` and registers its entries. */
  compileAt(root: number): Region | undefined {
    const { n, span, entry, m } = this;
    const ops = m.ops, imm = m.imm;
    const max = this.opts.regionInstructionsMax;
    // Breadth-first over blocks: a block starts at `pc` and covers span[pc] instructions.
    const blocks: number[] = [];
    const seen = new Set<number>();
    const queue = [root];
    let total = 0;
    seen.add(root);
    for (let qi = 0; qi < queue.length; qi++) {
      const pc = queue[qi];
      if (pc < 0 || pc >= n || entry[pc] !== undefined) continue;
      if (IS_SYS[ops[pc]]) {
        // Not compiled: the region exits here; what follows may belong to the region.
        if (ops[pc] !== OP.IRET) push(pc + 1);
        continue;
      }
      const len = span[pc];
      if (total + len > max) continue;
      total += len;
      blocks.push(pc);
      const last = pc + len - 1;
      const op = ops[last];
      const spec = BY_OP[op];
      if (spec?.target) push(imm[last]);
      if (!spec?.ends || isConditional(op) || op === OP.CALL || op === OP.CALLR) push(last + 1);
    }
    function push(pc: number): void {
      if (pc >= 0 && pc < n && !seen.has(pc)) {
        seen.add(pc);
        queue.push(pc);
      }
    }
    // Bound the total (blocks inside loops can be compiled again as roots of other regions).
    if (blocks.length === 0 || this.compiledInstructions + total > this.opts.regionInstructionsMax + 16 * n) {
      this.leader[root] = 0;
      return undefined;
    }
    this.compiledInstructions += total;
    blocks.sort((a, b) => a - b);
    const handler = this.handler;
    // Entered other than through the region's static edges: return sites, the instruction
    // after a sys instruction, interrupt handlers.
    const mustEnter = (pc: number) => pc > 0 && (ops[pc - 1] === OP.CALL || ops[pc - 1] === OP.CALLR || IS_SYS[ops[pc - 1]] === 1 || handler[pc] === 1);
    const g = generateRegion(m, root, blocks, span, mustEnter);
    this.opts.onCompile?.({ root, blocks: blocks.length, instructions: total, entries: g.entries.length, source: g.source });
    // The machine's arrays are bound as closure constants (Machine never replaces them):
    // V8 optimizes element accesses on them better than on arrays loaded from `m`. The
    // serial number makes every source unique: V8 shares compiled code, optimization and
    // deoptimization history between functions made from identical source, and regions of
    // earlier machines running the same program measurably slowed down later ones.
    const factory = new Function("MAP", "R", "mem", "mem32", "dirty", "chg", `${g.source}\n// region ${++regionSerial}`);
    const region: Region = { fn: factory(g.map, m.regs, m.mem, m.mem32, m.dirty, m.changed) as RegionFn, calls: 0 };
    for (const pc of g.entries) entry[pc] = region;
    this.regions++;
    return region;
  }
}

/**
 * Executes the sys instruction at m.pc exactly as the interpreter's case does; returns the
 * RunResult run() must return, or undefined to go on.
 */
function execSys(m: Machine): RunResult | undefined {
  const r = m.regs;
  let pc = m.pc;
  let ic = m.icount;
  const a = m.fa[pc], imm = m.imm[pc], n = m.codeLength;
  switch (m.ops[pc]) {
    case 0x60: // EI
      m.ie = true;
      pc++;
      ic++;
      m.eiShadowIcount = ic;
      m.pc = pc;
      m.icount = ic;
      m.sys.interruptsEnabled();
      if (m.stopRequested || m.trap) return finish(m);
      m.pc = pc;
      m.icount = ic;
      return undefined;
    case 0x62: { // IRET
      const sp = r[SP];
      if (!m.stackOk(sp)) return "trapped";
      const t = m.mem32[sp >>> 2];
      if (t >>> 0 >= n) return m.raiseTrap("pc-out-of-code", `IRET to ${t >>> 0}, code has ${n} instructions`);
      r[SP] = sp + 4;
      m.ie = true;
      pc = t;
      ic++;
      m.pc = pc;
      m.icount = ic;
      m.sys.interruptsEnabled();
      if (m.stopRequested || m.trap) return finish(m);
      m.pc = pc;
      m.icount = ic;
      return undefined;
    }
    case 0x63: // WFI
      if (!m.ie) return m.raiseTrap("wfi-with-interrupts-disabled", "WFI with interrupts disabled would wait forever");
      m.pc = pc + 1;
      m.icount = ic + 1;
      m.waiting = true;
      return "waiting";
    case 0x65: { // IN
      // A trapping IN (a bad port) must not retire: leave A untouched.
      const v = m.sys.in(imm);
      if (!m.trap) r[a] = v;
      return afterInput(m, pc, ic);
    }
    case 0x66: // OUT
      m.sys.out(imm, r[a]);
      return afterInput(m, pc, ic);
    case 0x67: // TIME
      r[a] = m.sys.time();
      return afterInput(m, pc, ic);
    case 0x68: // RAND
      r[a] = m.sys.rand();
      return afterInput(m, pc, ic);
    case 0x69: // HOSTID
      r[a] = m.sys.hostId();
      return afterInput(m, pc, ic);
  }
  throw new Error(`compile: opcode 0x${m.ops[pc].toString(16)} at ${pc} is not a sys instruction`);
}

function afterInput(m: Machine, pc: number, ic: number): RunResult | undefined {
  if (m.trap) return "trapped";
  m.pc = pc + 1;
  m.icount = ic + 1;
  if (m.stopRequested) return finish(m);
  return undefined;
}

/** The interpreter's `finish`: a stop request is honoured once. */
function finish(m: Machine): RunResult {
  m.stopRequested = false;
  return m.trap ? "trapped" : "continue";
}

/**
 * Creates a compiled engine: install it with `m.engine = compiledEngine()` (see
 * src/host/engine.ts). Translation state is kept per machine.
 */
export function compiledEngine(options: CompileOptions = {}): (m: Machine, limit: number) => RunResult {
  const opts = {
    hotThreshold: options.hotThreshold ?? HOT_THRESHOLD_DEFAULT,
    chunkIcount: 0,
    regionInstructionsMax: options.regionInstructionsMax ?? REGION_INSTRUCTIONS_MAX_DEFAULT,
    blockInstructionsMax: Math.min(255, options.blockInstructionsMax ?? BLOCK_INSTRUCTIONS_MAX_DEFAULT),
    onCompile: options.onCompile,
  };
  // A chunk must hold any one block, or a region could be entered without room to start.
  opts.chunkIcount = Math.max(options.chunkIcount ?? CHUNK_ICOUNT_DEFAULT, opts.blockInstructionsMax);
  const states = new WeakMap<Machine, Compiled>();
  return function compiledRun(m: Machine, limit: number): RunResult {
    let st = states.get(m);
    if (!st) {
      st = new Compiled(m, opts);
      states.set(m, st);
    }
    return run(st, m, limit);
  };
}

function run(st: Compiled, m: Machine, limit: number): RunResult {
  const ops = m.ops, n = st.n, span = st.span, entry = st.entry, hits = st.hits;
  const hot = st.opts.hotThreshold, chunk = st.opts.chunkIcount;
  for (;;) {
    const ic = m.icount;
    const rem = limit - ic;
    if (!(rem > 0)) return "continue";
    const pc = m.pc;
    if (pc >>> 0 >= n) return interpret(m, ic + 1); // past the code: traps there
    if (IS_SYS[ops[pc]]) {
      const r = execSys(m);
      if (r !== undefined) return r;
      continue;
    }
    let region = entry[pc];
    if (region === undefined && st.leader[pc] && ++hits[pc] >= hot) region = st.compileAt(pc);
    if (region !== undefined && rem >= span[pc]) {
      let budget = rem > chunk ? chunk : Math.floor(rem);
      if (region.calls < RAMP_CALLS) {
        region.calls++;
        if (budget > RAMP_BUDGET) budget = RAMP_BUDGET;
      }
      if (region.fn(m, budget) === EXIT_INTERPRET) {
        const r = interpret(m, m.icount + 1);
        if (r !== "continue") return r;
      }
      if (m.icount !== ic || m.pc !== pc) continue;
      // No progress (cannot happen while every block fits a chunk): interpret instead.
    }
    // Not compiled (yet), or the slice ends inside this block: interpret up to the end of
    // the block (which holds no sys instruction, so "continue" means the limit was reached).
    const r = interpret(m, Math.min(limit, ic + span[pc]));
    if (r !== "continue") return r;
  }
}
