// The compiled engine: translates hot guest code into JavaScript (with `new Function`) and
// runs it, matching the reference interpreter (src/vm/interp.ts) bit for bit, including
// traps, and stopping at exactly `limit` instructions.
//
// Shape of the generated code. Code is immutable and separate from data, so it is
// translated once per machine, lazily: the dispatcher (`run` below) counts how often it
// reaches each code address that is not compiled yet; when one becomes hot, a REGION is
// compiled rooted there: every basic block statically reachable from it (fall-through,
// branch and call targets, return sites, the instruction after a sys instruction), up to
// REGION_INSTRUCTIONS_MAX instructions, leaving out blocks another region already holds.
// A region is ONE JavaScript function:
//
//   function region(m, budget) {
//     let r0 = R[0], r1 = R[1], ...        // guest registers in JS locals
//     let left = budget, b = <block of m.pc>;
//     main: for (;;) switch (b) {          // one case per basic block, in code order
//       case 3:                            // a block that branches to itself is a real loop:
//         for (;;) {
//           if (left < 4) { pc = 17; break main; }    // exact budget, checked per block
//           left -= 4;
//           ...                            // straight-line code, traps bail out
//           if (r1 < r2) continue;         // the back edge
//           break;
//         }
//       case 4: ...                        // fall-through needs no dispatch
//     }
//     R[0] = r0; ...; m.pc = pc; m.icount = ic0 + (budget - left); return exit;
//   }
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
// Budgets are handed to a region in chunks of at most CHUNK_ICOUNT instructions: V8 runs a
// freshly entered optimized function faster than on-stack-replaced code of a long call.
import { BY_OP, OP, SP } from "../../isa/table.js";
import { interpret } from "./interp.js";
import type { Machine, RunResult } from "./machine.js";
import { PAGE_SHIFT, ZERO_REG } from "./machine.js";

/** A compiled region: runs from m.pc for at most `budget` instructions; returns an EXIT_ code. */
type RegionFn = (m: Machine, budget: number) => number;

/** The region left at m.pc (budget too small for the next block, a sys instruction, or code it does not hold). */
const EXIT_DISPATCH = 0;
/** The instruction at m.pc must run in the reference interpreter (it traps, halts, or is invalid). */
const EXIT_INTERPRET = 1;

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
  onCompile?: (info: { root: number; blocks: number; instructions: number; source: string }) => void;
}

const HOT_THRESHOLD_DEFAULT = 4;
const CHUNK_ICOUNT_DEFAULT = 100_000;
const REGION_INSTRUCTIONS_MAX_DEFAULT = 1200;
const BLOCK_INSTRUCTIONS_MAX_DEFAULT = 64;

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
  readonly leader: Uint8Array;
  readonly hits: Uint32Array;
  readonly entry: (RegionFn | undefined)[];
  regions = 0;

  constructor(
    readonly m: Machine,
    readonly opts: Required<Omit<CompileOptions, "onCompile">> & Pick<CompileOptions, "onCompile">,
  ) {
    const n = m.codeLength;
    this.n = n;
    const ops = m.ops, imm = m.imm;
    const leader = new Uint8Array(n + 1);
    if (n > 0) leader[m.image.entry < n ? m.image.entry : 0] = 1;
    leader[0] = 1;
    for (let i = 0; i < n; i++) {
      const op = ops[i];
      if (IS_END[op] || IS_SYS[op]) leader[i + 1] = 1;
      if (IS_SYS[op]) leader[i] = 1;
      const s = BY_OP[op];
      if ((s?.target || op === OP.SETVEC) && imm[i] >= 0 && imm[i] < n) leader[imm[i]] = 1;
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
    this.span = span;
    this.hits = new Uint32Array(n + 1);
    this.entry = new Array(n + 1).fill(undefined);
  }

  /** Compiles the region rooted at `root` and registers its entries. */
  compileAt(root: number): RegionFn | undefined {
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
    if (blocks.length === 0) return undefined;
    blocks.sort((a, b) => a - b);
    const fn = this.generate(root, blocks);
    for (const pc of blocks) entry[pc] = fn;
    this.regions++;
    return fn;
  }

  private generate(root: number, blocks: number[]): RegionFn {
    const { m, n, span } = this;
    const ops = m.ops, fa = m.fa, fb = m.fb, fc = m.fc, imms = m.imm;
    const MB = m.memBytes, MB4 = m.memBytes - 4, SB = m.stackBase;
    const lo = blocks[0], hi = blocks[blocks.length - 1];
    const map = new Int32Array(hi - lo + 1).fill(-1);
    blocks.forEach((pc, i) => (map[pc - lo] = i));
    const index = (pc: number): number => (pc >= lo && pc <= hi ? map[pc - lo] : -1);

    const read = new Set<number>();
    const written = new Set<number>();
    const R = (i: number): string => {
      if (i === ZERO_REG) return "0";
      read.add(i);
      return `r${i}`;
    };
    const W = (i: number): string => {
      written.add(i);
      read.add(i);
      return `r${i}`;
    };
    let usesIcount = false;
    const out: string[] = [];
    const emit = (s: string) => out.push(s);

    for (let bi = 0; bi < blocks.length; bi++) {
      const P = blocks[bi];
      const L = span[P];
      const last = P + L - 1;
      const lop = ops[last];
      const selfLoop = BY_OP[lop]?.target && imms[last] === P && (isConditional(lop) || lop === OP.JMP);
      // Transfer to a static code address: fall into the next case, continue at a block of
      // this region, or leave the region.
      const goTo = (t: number, canFall: boolean): string => {
        const j = index(t);
        if (j >= 0) return j === bi + 1 && canFall ? "" : `{ b = ${j}; continue main; }`;
        return `{ pc = ${t}; break main; }`;
      };
      const bail = (k: number) => `{ pc = ${P + k}; left += ${L - k}; x = ${EXIT_INTERPRET}; break main; }`;
      const dyn = (t: string) => {
        return `pc = ${t}; if ((pc - ${lo}) >>> 0 < ${hi - lo + 1} && (b = MAP[pc - ${lo}]) >= 0) continue main; break main;`;
      };

      emit(`case ${bi}: // pc ${P}, ${L} instructions`);
      if (selfLoop) emit(`for (;;) {`);
      emit(`if (left < ${L}) { pc = ${P}; break main; }`);
      emit(`left -= ${L};`);
      for (let k = 0; k < L; k++) {
        const pc = P + k;
        const op = ops[pc];
        const a = fa[pc], b = fb[pc], c = fc[pc], imm = imms[pc];
        switch (op) {
          case 0x00: break; // NOP
          case 0x02: emit(`${W(a)} = ${R(b)};`); break; // MOV
          case 0x03: emit(`${W(a)} = ${imm};`); break; // LI
          case 0x10: emit(`${W(a)} = (${R(b)} + ${R(c)}) | 0;`); break;
          case 0x11: emit(`${W(a)} = (${R(b)} - ${R(c)}) | 0;`); break;
          case 0x12: emit(`${W(a)} = Math.imul(${R(b)}, ${R(c)});`); break;
          case 0x13: // DIV
            emit(`if (${R(c)} === 0) ${bail(k)}`);
            emit(`${W(a)} = (${R(b)} / ${R(c)}) | 0;`);
            break;
          case 0x14: // DIVU
            emit(`if (${R(c)} === 0) ${bail(k)}`);
            emit(`${W(a)} = ((${R(b)} >>> 0) / (${R(c)} >>> 0)) | 0;`);
            break;
          case 0x15: // REM
            emit(`if (${R(c)} === 0) ${bail(k)}`);
            emit(`${W(a)} = (${R(b)} % ${R(c)}) | 0;`);
            break;
          case 0x16: // REMU
            emit(`if (${R(c)} === 0) ${bail(k)}`);
            emit(`${W(a)} = ((${R(b)} >>> 0) % (${R(c)} >>> 0)) | 0;`);
            break;
          case 0x17: emit(`${W(a)} = ${R(b)} & ${R(c)};`); break;
          case 0x18: emit(`${W(a)} = ${R(b)} | ${R(c)};`); break;
          case 0x19: emit(`${W(a)} = ${R(b)} ^ ${R(c)};`); break;
          case 0x1a: emit(`${W(a)} = ${R(b)} << ${R(c)};`); break;
          case 0x1b: emit(`${W(a)} = (${R(b)} >>> ${R(c)}) | 0;`); break;
          case 0x1c: emit(`${W(a)} = ${R(b)} >> ${R(c)};`); break;
          case 0x1d: emit(`${W(a)} = ${R(b)} < ${R(c)} ? 1 : 0;`); break;
          case 0x1e: emit(`${W(a)} = (${R(b)} >>> 0) < (${R(c)} >>> 0) ? 1 : 0;`); break;

          case 0x20: emit(`${W(a)} = (${R(b)} + ${imm}) | 0;`); break; // ADDI
          case 0x21: emit(`${W(a)} = Math.imul(${R(b)}, ${imm});`); break; // MULI
          case 0x22: emit(`${W(a)} = ${R(b)} & ${imm};`); break;
          case 0x23: emit(`${W(a)} = ${R(b)} | ${imm};`); break;
          case 0x24: emit(`${W(a)} = ${R(b)} ^ ${imm};`); break;
          case 0x25: emit(`${W(a)} = ${R(b)} << ${imm & 31};`); break;
          case 0x26: emit(`${W(a)} = (${R(b)} >>> ${imm & 31}) | 0;`); break;
          case 0x27: emit(`${W(a)} = ${R(b)} >> ${imm & 31};`); break;
          case 0x28: emit(`${W(a)} = ${R(b)} < ${imm} ? 1 : 0;`); break;
          case 0x29: emit(`${W(a)} = (${R(b)} >>> 0) < ${imm >>> 0} ? 1 : 0;`); break;

          case 0x30: // LDW
          case 0x32: { // STW
            const store = op === 0x32;
            if (b === ZERO_REG) {
              const addr = imm | 0;
              if (addr & 3 || addr >>> 0 > MB4) emit(bail(k));
              else if (store) emit(`mem32[${addr >>> 2}] = ${R(a)}; dirty[${addr >>> PAGE_SHIFT}] = 1;`);
              else emit(`${W(a)} = mem32[${addr >>> 2}];`);
            } else {
              emit(`t = (${R(b)} + ${imm}) | 0;`);
              emit(`if ((t & 3) !== 0 || (t >>> 0) > ${MB4}) ${bail(k)}`);
              if (store) emit(`mem32[t >>> 2] = ${R(a)}; dirty[t >>> ${PAGE_SHIFT}] = 1;`);
              else emit(`${W(a)} = mem32[t >>> 2];`);
            }
            break;
          }
          case 0x31: // LDB
          case 0x33: { // STB
            const store = op === 0x33;
            if (b === ZERO_REG) {
              const addr = imm | 0;
              if (addr >>> 0 >= MB) emit(bail(k));
              else if (store) emit(`mem[${addr}] = ${R(a)}; dirty[${addr >>> PAGE_SHIFT}] = 1;`);
              else emit(`${W(a)} = mem[${addr}];`);
            } else {
              emit(`t = (${R(b)} + ${imm}) | 0;`);
              emit(`if ((t >>> 0) >= ${MB}) ${bail(k)}`);
              if (store) emit(`mem[t] = ${R(a)}; dirty[t >>> ${PAGE_SHIFT}] = 1;`);
              else emit(`${W(a)} = mem[t];`);
            }
            break;
          }

          case 0x40: emit(selfLoop ? "continue;" : goTo(imm, false)); break; // JMP
          case 0x41: // JR
            emit(`if ((${R(a)} >>> 0) >= ${n}) ${bail(k)}`);
            emit(dyn(R(a)));
            break;
          case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47: case 0x48: case 0x49: {
            const cond = condition(op, R(a), R(b));
            emit(`if (${cond}) ${selfLoop ? "continue;" : goTo(imm, false)}`);
            break;
          }
          case 0x50: // CALL
          case 0x51: { // CALLR
            const target = op === 0x50 ? null : R(a);
            if (target === null) {
              if (imm >>> 0 >= n) {
                emit(bail(k));
                break;
              }
            } else emit(`if ((${target} >>> 0) >= ${n}) ${bail(k)}`);
            emit(`s = (${R(SP)} - 4) | 0;`);
            emit(`if (s < ${SB} || s > ${MB4} || (s & 3) !== 0) ${bail(k)}`);
            if (target !== null) emit(`t = ${target};`);
            emit(`mem32[s >>> 2] = ${pc + 1}; dirty[s >>> ${PAGE_SHIFT}] = 1; ${W(SP)} = s;`);
            if (target === null) emit(goTo(imm, false));
            else emit(dyn("t"));
            break;
          }
          case 0x52: // RET
            emit(`s = ${R(SP)};`);
            emit(`if (s < ${SB} || s > ${MB4} || (s & 3) !== 0) ${bail(k)}`);
            emit(`t = mem32[s >>> 2];`);
            emit(`if ((t >>> 0) >= ${n}) ${bail(k)}`);
            emit(`${W(SP)} = s + 4;`);
            emit(dyn("t"));
            break;
          case 0x53: // PUSH
            emit(`s = (${R(SP)} - 4) | 0;`);
            emit(`if (s < ${SB} || s > ${MB4} || (s & 3) !== 0) ${bail(k)}`);
            emit(`mem32[s >>> 2] = ${R(a)}; dirty[s >>> ${PAGE_SHIFT}] = 1; ${W(SP)} = s;`);
            break;
          case 0x54: // POP
            emit(`s = ${R(SP)};`);
            emit(`if (s < ${SB} || s > ${MB4} || (s & 3) !== 0) ${bail(k)}`);
            emit(`${W(SP)} = s + 4;`);
            emit(`${W(a)} = mem32[s >>> 2];`);
            break;

          case 0x61: emit(`m.ie = false;`); break; // DI
          case 0x64: emit(`m.vectors[${a}] = ${imm};`); break; // SETVEC
          case 0x6a: // ICOUNT: instructions retired before this one
            usesIcount = true;
            emit(`${W(a)} = (ic0 + (budget - left) - ${L - k}) | 0;`);
            break;

          default:
            // HALT, OP_END, unassigned opcodes (and, defensively, anything else): the
            // interpreter executes it.
            if (IS_SYS[op]) throw new Error(`compile: sys instruction inside a block at ${pc}`);
            emit(bail(k));
            break;
        }
      }
      // The block's end: fall through to the next instruction, close the self-loop.
      if (!IS_END[lop]) emit(goTo(last + 1, true));
      else if (isConditional(lop)) {
        if (selfLoop) emit("break; }");
        emit(goTo(last + 1, true));
      } else if (selfLoop) emit("}");
    }

    const regs = [...read].sort((x, y) => x - y);
    const decl = regs.map((i) => `r${i} = R[${i}]`).join(", ");
    const wb = [...written].sort((x, y) => x - y).map((i) => `R[${i}] = r${i};`).join(" ");
    const src = [
      `"use strict";`,
      `return function region_${root}(m, budget) {`,
      `const R = m.regs, mem = m.mem, mem32 = m.mem32, dirty = m.dirty;`,
      regs.length ? `let ${decl};` : "",
      `let left = budget, pc = m.pc, x = ${EXIT_DISPATCH}, t = 0, s = 0;`,
      usesIcount ? `const ic0 = m.icount;` : "",
      `let b = MAP[pc - ${lo}];`,
      `main: for (;;) {`,
      `switch (b) {`,
      ...out,
      `default: break main;`,
      `}`,
      `}`,
      wb,
      `m.pc = pc;`,
      `m.icount ${usesIcount ? "= ic0 + (budget - left)" : "+= budget - left"};`,
      `return x;`,
      `};`,
    ].join("\n");
    this.opts.onCompile?.({ root, blocks: blocks.length, instructions: blocks.reduce((acc, pc) => acc + span[pc], 0), source: src });
    return new Function("MAP", src)(map) as RegionFn;
  }
}

function isConditional(op: number): boolean {
  return op >= 0x42 && op <= 0x49;
}

function condition(op: number, a: string, b: string): string {
  switch (op) {
    case 0x42: return `${a} === ${b}`;
    case 0x43: return `${a} !== ${b}`;
    case 0x44: return `${a} < ${b}`;
    case 0x45: return `${a} >= ${b}`;
    case 0x46: return `(${a} >>> 0) < (${b} >>> 0)`;
    case 0x47: return `(${a} >>> 0) >= (${b} >>> 0)`;
    case 0x48: return `${a} === 0`;
    case 0x49: return `${a} !== 0`;
  }
  throw new Error(`compile: opcode ${op} is not a conditional branch`);
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
    case 0x65: // IN
      r[a] = m.sys.in(imm);
      return afterInput(m, pc, ic);
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
    chunkIcount: options.chunkIcount ?? CHUNK_ICOUNT_DEFAULT,
    regionInstructionsMax: options.regionInstructionsMax ?? REGION_INSTRUCTIONS_MAX_DEFAULT,
    blockInstructionsMax: Math.min(255, options.blockInstructionsMax ?? BLOCK_INSTRUCTIONS_MAX_DEFAULT),
    onCompile: options.onCompile,
  };
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
    let fn = entry[pc];
    if (fn === undefined && st.leader[pc] && ++hits[pc] >= hot) fn = st.compileAt(pc);
    if (fn !== undefined && rem >= span[pc]) {
      const budget = rem > chunk ? chunk : Math.floor(rem);
      if (fn(m, budget) === EXIT_INTERPRET) {
        const r = interpret(m, m.icount + 1);
        if (r !== "continue") return r;
      }
      continue;
    }
    // Not compiled (yet), or the slice ends inside this block: interpret up to the end of
    // the block (which holds no sys instruction, so "continue" means the limit was reached).
    const r = interpret(m, Math.min(limit, ic + span[pc]));
    if (r !== "continue") return r;
  }
}
