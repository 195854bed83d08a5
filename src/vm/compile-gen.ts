// Code generation for the compiled engine (src/vm/compile.ts): turns one region (a set of
// basic blocks) into the source of ONE JavaScript function. See compile.ts for the engine
// and the exactness rules; this file is only about the shape of the generated code.
//
//   function region(m, budget) {             // R, mem, mem32, dirty, chg, MAP: closure constants
//     let r1 = R[1], r2 = R[2], ...          // the guest registers the region uses, as locals
//     let left = budget, pc = m.pc, x = 0, t = 0, s = 0;
//     let b = MAP[pc - LO];                  // which entry block to start at
//     main: for (;;) switch (b) {            // dispatch, only for entry blocks and jumps between
//       case 0: ...                          // top-level blocks
//       case 3:                              // a loop nest becomes real JS loops:
//         L3: for (;;) {
//           F5: {                            // a label for each forward branch target
//             if (left < 4) { pc = 17; break main; }   // exact budget, checked per block
//             left -= 4;
//             ...                            // straight-line code; traps bail out
//             if (r5 === 0) break F5;        // forward branch
//             ...
//           }
//           ...                              // block 5
//           if (r1 < r2) continue L3;        // back edge
//           break L3;                        // loop exit, to the instruction after the last block
//         }
//       case 7: ...                          // fall-through needs no dispatch
//     }
//     R[1] = r1; ...; m.pc = pc; m.icount += budget - left; return x;
//   }
//
// Loops: a back edge u -> h (h at or before u in code order) makes the interval [h, u'] of
// blocks a loop (u' the last block branching back to h). A loop is emitted as a JS loop
// when no block after its header is entered from outside the interval or from the
// dispatcher, and it nests properly with the other loops taken; everything else is
// dispatched through the switch. Only top-level blocks (those not inside a JS loop) have
// case labels, so only they are entries for the dispatcher and targets of dynamic jumps;
// execution that stops inside a loop (a slice ending there) resumes through another
// region rooted at that block.
import { BY_OP, SP } from "../../isa/table.js";
import type { Machine } from "./machine.js";
import { PAGE_SHIFT, ZERO_REG } from "./machine.js";

/** Exit codes of a region function. */
export const EXIT_DISPATCH = 0;
/** The instruction at m.pc must run in the reference interpreter (it traps, halts, or is invalid). */
export const EXIT_INTERPRET = 1;

/** RET compares the return address with up to this many return sites before the map lookup. */
const RETURN_SITES_SWITCH_MAX = 8;

export interface GeneratedRegion {
  /** Body of `new Function("MAP", "R", "mem", "mem32", "dirty", "chg", source)`, which returns the region function. */
  source: string;
  map: Int32Array;
  /** Code addresses of the blocks that are entries (have case labels). */
  entries: number[];
}

interface Loop {
  /** Block indices of the header and the last block. */
  h: number;
  e: number;
}

interface Ctx {
  loop: Loop;
  /** Block indices with an open forward label F<idx> in this loop's body. */
  fwd: Set<number>;
}

/** Conditional branches by opcode, from the ISA table (`conditional`). */
const CONDITIONAL = new Uint8Array(256);
for (let op = 0; op < 256; op++) if (BY_OP[op]?.conditional) CONDITIONAL[op] = 1;

/** A conditional branch: ends its block, and falls through to the next instruction when not taken. */
export function isConditional(op: number): boolean {
  return CONDITIONAL[op] === 1;
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
 * Generates the region made of `blocks` (code addresses of block starts, sorted; block i
 * covers span[blocks[i]] instructions). `mustEnter(pc)` says whether a block can be
 * entered other than by the static edges between the region's blocks (the root, return
 * sites, the instruction after a sys instruction, interrupt handlers).
 */
export function generateRegion(m: Machine, root: number, blocks: readonly number[], span: Uint8Array, mustEnter: (pc: number) => boolean): GeneratedRegion {
  const n = m.codeLength;
  const ops = m.ops, fa = m.fa, fb = m.fb, fc = m.fc, imms = m.imm;
  const MB = m.memBytes, MB4 = m.memBytes - 4, SB = m.stackBase;
  // Stores of `v` (a register local or a constant) to the word at index `w` / the byte at
  // `x`. A machine that tracks changes (Machine.changed, bound as `chg`) flags the word
  // when the store changes its value; others get the plain store. The flag ORs in the
  // difference of old and new value rather than branching on it: stores of a busy loop
  // alternate between changing and not, which a branch predicts badly.
  const track = m.changed !== null;
  const storeWord = (w: string, v: string, page: string): string =>
    track ? `chg[${w}] |= (mem32[${w}] ^ ${v}) !== 0 ? 1 : 0; mem32[${w}] = ${v}; dirty[${page}] = 1;` : `mem32[${w}] = ${v}; dirty[${page}] = 1;`;
  const storeByte = (x: string, v: string, page: string): string =>
    track ? `chg[${x} >>> 2] |= (mem[${x}] ^ ${v}) & 255; mem[${x}] = ${v}; dirty[${page}] = 1;` : `mem[${x}] = ${v}; dirty[${page}] = 1;`;
  const k = blocks.length;
  const lo = blocks[0], hi = blocks[k - 1];
  const idxMap = new Int32Array(hi - lo + 1).fill(-1);
  blocks.forEach((pc, i) => (idxMap[pc - lo] = i));
  const idxOf = (pc: number): number => (pc >= lo && pc <= hi ? idxMap[pc - lo] : -1);

  // Static edges between the region's blocks.
  const last = blocks.map((pc) => pc + span[pc] - 1);
  const target = new Int32Array(k).fill(-1); // branch, JMP or CALL target (a code address)
  const fall = new Int32Array(k).fill(-1); // the next instruction, when control may fall into it
  const preds: number[][] = blocks.map(() => []);
  for (let i = 0; i < k; i++) {
    const op = ops[last[i]];
    const spec = BY_OP[op];
    if (spec?.target) target[i] = imms[last[i]];
    if (!spec || !spec.ends || isConditional(op)) fall[i] = last[i] + 1;
    if (!spec) fall[i] = -1; // invalid opcode: bails out
    for (const t of [target[i], fall[i]]) {
      const j = t >= 0 ? idxOf(t) : -1;
      if (j >= 0 && !preds[j].includes(i)) preds[j].push(i);
    }
  }
  const enter = blocks.map((pc) => pc === root || mustEnter(pc));

  // Loops: one candidate per header, nested properly, with no side entries.
  const ends = new Map<number, number>();
  for (let j = 0; j < k; j++) for (const p of preds[j]) if (p >= j) ends.set(j, Math.max(ends.get(j) ?? -1, p));
  const loops: Loop[] = [];
  const loopAt = new Map<number, Loop>();
  for (const [h, e] of [...ends].sort((x, y) => x[0] - y[0] || y[1] - x[1])) {
    let ok = true;
    for (let y = h + 1; y <= e && ok; y++) {
      if (enter[y]) ok = false;
      for (const p of preds[y]) if (p < h || p > e) ok = false;
    }
    for (const l of loops) if (ok && h > l.h && h <= l.e && e > l.e) ok = false; // crosses an outer loop
    if (ok) {
      const l = { h, e };
      loops.push(l);
      loopAt.set(h, l);
    }
  }
  const labelled = new Uint8Array(k);
  for (let i = 0; i < k; i++) labelled[i] = 1;
  for (const l of loops) for (let y = l.h + 1; y <= l.e; y++) labelled[y] = 0;
  // A header inside another loop is not labelled either.
  for (const l of loops) for (const o of loops) if (o !== l && l.h > o.h && l.h <= o.e) labelled[l.h] = 0;

  // Return sites (blocks right after a CALL or CALLR) that are entries: RET tries them first.
  const returnSites: number[] = [];
  for (let i = 0; i < k; i++) if (labelled[i] && blocks[i] > 0 && (ops[blocks[i] - 1] === 0x50 || ops[blocks[i] - 1] === 0x51)) returnSites.push(i);
  const retSwitch =
    returnSites.length > 0 && returnSites.length <= RETURN_SITES_SWITCH_MAX
      ? `switch (t) { ${returnSites.map((i) => `case ${blocks[i]}: b = ${i}; continue main;`).join(" ")} } `
      : "";

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
  const ctx: Ctx[] = [];

  /** The code address right after a loop's last block: where `break L<h>` continues. */
  const loopExit = (l: Loop): number => blocks[l.e] + span[blocks[l.e]];

  /**
   * Transfers control from block x to code address `to`. `next` is the block index that
   * follows in the emitted code at x's level (-1 when nothing does): falling through to it
   * needs no code when `atEnd` (the transfer is the last thing the block does).
   */
  const jump = (x: number, to: number, atEnd: boolean, next: number): string => {
    const t = to >= 0 ? idxOf(to) : -1;
    if (t < 0) return `{ pc = ${to}; break main; }`;
    for (let i = ctx.length - 1; i >= 0; i--) if (ctx[i].loop.h === t) return `continue L${t};`;
    if (t > x) for (let i = ctx.length - 1; i >= 0; i--) if (ctx[i].fwd.has(t)) return `break F${t};`;
    if (atEnd && t === next) return "";
    // `break L<h>` lands after the loop, on the code emitted there: a jump to the loop's
    // exit address (see emitLoop). That is the instruction after the loop's last block in
    // CODE order, which need not start the next block of the region (dead code between
    // them is not part of the region), so the target is compared by address, not by block
    // index.
    for (let i = ctx.length - 1; i >= 0; i--) if (loopExit(ctx[i].loop) === to) return `break L${ctx[i].loop.h};`;
    if (labelled[t]) return `{ b = ${t}; continue main; }`;
    return `{ pc = ${to}; break main; }`;
  };

  /** Items of the sequence of blocks [from, to] directly at this level: blocks and loops. */
  const items = (from: number, to: number, skipLoopAt: number): { start: number; loop?: Loop }[] => {
    const res: { start: number; loop?: Loop }[] = [];
    for (let y = from; y <= to; ) {
      const l = y !== skipLoopAt ? loopAt.get(y) : undefined;
      if (l) {
        res.push({ start: y, loop: l });
        y = l.e + 1;
      } else {
        res.push({ start: y });
        y++;
      }
    }
    return res;
  };

  const emitItem = (it: { start: number; loop?: Loop }, next: number): void => {
    if (it.loop) emitLoop(it.loop, next);
    else emitBlock(it.start, next);
  };

  const emitLoop = (l: Loop, next: number): void => {
    const body = items(l.h, l.e, l.h);
    const fwd = new Set<number>();
    for (const it of body) {
      const t = it.start;
      // Not needed for plain fall-through from the block just before.
      if (t !== l.h && preds[t].some((p) => p < t && p >= l.h && (p !== t - 1 || target[p] === blocks[t]))) fwd.add(t);
    }
    emit(`L${l.h}: for (;;) {`);
    for (const t of [...fwd].sort((a, b) => b - a)) emit(`F${t}: {`);
    ctx.push({ loop: l, fwd });
    body.forEach((it, i) => {
      if (fwd.has(it.start)) emit(`} // F${it.start}`);
      emitItem(it, i + 1 < body.length ? body[i + 1].start : -1);
    });
    ctx.pop();
    emit(`} // L${l.h}`);
    // Reached only by `break L<h>`: continue at the loop's exit address.
    const g = jump(l.e, loopExit(l), true, next);
    if (g) emit(g);
  };

  const emitBlock = (bi: number, next: number): void => {
    const P = blocks[bi];
    const L = span[P];
    // Leaves the region before instruction P+j ran: the interpreter will execute it.
    const bail = (j: number) => `{ pc = ${P + j}; left += ${L - j}; x = ${EXIT_INTERPRET}; break main; }`;
    const dyn = (t: string) =>
      `pc = ${t}; if ((pc - ${lo}) >>> 0 < ${hi - lo + 1} && (b = MAP[pc - ${lo}]) >= 0) continue main; break main;`;
    // What the block knows about the stack pointer: r15 = sp0 + spOff, where sp0 is its
    // value at the block's start or after the last write other than a push or pop; the
    // stack checks passed for sp0 + d, for every multiple of 4 d in [vlo, vhi] (none when
    // vlo > vhi), so an access in that range needs no check, one just below it only the
    // lower bound and one just above only the upper bound.
    let spOff = 0, vlo = 1, vhi = 0;
    const stackCheck = (j: number, d: number): string => {
      if (vlo > vhi) {
        vlo = vhi = d;
        return `if (s < ${SB} || s > ${MB4} || (s & 3) !== 0) ${bail(j)}`;
      }
      if (d >= vlo && d <= vhi) return "";
      if (d < vlo) {
        vlo = d;
        return `if (s < ${SB}) ${bail(j)}`;
      }
      vhi = d;
      return `if (s > ${MB4}) ${bail(j)}`;
    };
    const spWritten = () => {
      spOff = 0;
      vlo = 1;
      vhi = 0;
    };

    if (labelled[bi] && ctx.length === 0) emit(`case ${bi}: // pc ${P}`);
    else emit(`// pc ${P}`);
    emit(`if (left < ${L}) { pc = ${P}; break main; }`);
    emit(`left -= ${L};`);
    for (let j = 0; j < L; j++) {
      const pc = P + j;
      const op = ops[pc];
      const a = fa[pc], b = fb[pc], c = fc[pc], imm = imms[pc];
      const atEnd = j === L - 1;
      switch (op) {
        case 0x00: break; // NOP
        case 0x02: emit(`${W(a)} = ${R(b)};`); break; // MOV
        case 0x03: emit(`${W(a)} = ${imm};`); break; // LI
        case 0x10: emit(`${W(a)} = (${R(b)} + ${R(c)}) | 0;`); break;
        case 0x11: emit(`${W(a)} = (${R(b)} - ${R(c)}) | 0;`); break;
        case 0x12: emit(`${W(a)} = Math.imul(${R(b)}, ${R(c)});`); break;
        case 0x13: // DIV
          emit(`if (${R(c)} === 0) ${bail(j)}`);
          emit(`${W(a)} = (${R(b)} / ${R(c)}) | 0;`);
          break;
        case 0x14: // DIVU
          emit(`if (${R(c)} === 0) ${bail(j)}`);
          emit(`${W(a)} = ((${R(b)} >>> 0) / (${R(c)} >>> 0)) | 0;`);
          break;
        case 0x15: // REM
          emit(`if (${R(c)} === 0) ${bail(j)}`);
          emit(`${W(a)} = (${R(b)} % ${R(c)}) | 0;`);
          break;
        case 0x16: // REMU
          emit(`if (${R(c)} === 0) ${bail(j)}`);
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
            if (addr & 3 || addr >>> 0 > MB4) emit(bail(j));
            else if (store) emit(storeWord(`${addr >>> 2}`, R(a), `${addr >>> PAGE_SHIFT}`));
            else emit(`${W(a)} = mem32[${addr >>> 2}];`);
          } else {
            emit(`t = (${R(b)} + ${imm}) | 0;`);
            emit(`if ((t & 3) !== 0 || (t >>> 0) > ${MB4}) ${bail(j)}`);
            if (store) emit(storeWord("t >>> 2", R(a), `t >>> ${PAGE_SHIFT}`));
            else emit(`${W(a)} = mem32[t >>> 2];`);
          }
          break;
        }
        case 0x31: // LDB
        case 0x33: { // STB
          const store = op === 0x33;
          if (b === ZERO_REG) {
            const addr = imm | 0;
            if (addr >>> 0 >= MB) emit(bail(j));
            else if (store) emit(storeByte(`${addr}`, R(a), `${addr >>> PAGE_SHIFT}`));
            else emit(`${W(a)} = mem[${addr}];`);
          } else {
            emit(`t = (${R(b)} + ${imm}) | 0;`);
            emit(`if ((t >>> 0) >= ${MB}) ${bail(j)}`);
            if (store) emit(storeByte("t", R(a), `t >>> ${PAGE_SHIFT}`));
            else emit(`${W(a)} = mem[t];`);
          }
          break;
        }

        case 0x40: emit(jump(bi, imm, atEnd, next)); break; // JMP
        case 0x41: // JR
          emit(`if ((${R(a)} >>> 0) >= ${n}) ${bail(j)}`);
          emit(dyn(R(a)));
          break;
        case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47: case 0x48: case 0x49:
          emit(`if (${condition(op, R(a), op >= 0x48 ? "0" : R(b))}) ${jump(bi, imm, false, next) || "{}"}`);
          break;
        case 0x50: // CALL
        case 0x51: { // CALLR
          const callee = op === 0x50 ? null : R(a);
          if (callee === null) {
            if (imm >>> 0 >= n) {
              emit(bail(j));
              break;
            }
          } else emit(`if ((${callee} >>> 0) >= ${n}) ${bail(j)}`);
          emit(`s = (${R(SP)} - 4) | 0;`);
          emit(stackCheck(j, spOff - 4));
          if (callee !== null) emit(`t = ${callee};`);
          emit(`${storeWord("s >>> 2", `${pc + 1}`, `s >>> ${PAGE_SHIFT}`)} ${W(SP)} = s;`);
          spOff -= 4;
          if (callee === null) emit(jump(bi, imm, atEnd, next));
          else emit(dyn("t"));
          break;
        }
        case 0x52: // RET
          emit(`s = ${R(SP)};`);
          emit(stackCheck(j, spOff));
          emit(`t = mem32[s >>> 2];`);
          emit(`if ((t >>> 0) >= ${n}) ${bail(j)}`);
          emit(`${W(SP)} = s + 4;`);
          emit(retSwitch + dyn("t"));
          break;
        case 0x53: // PUSH
          emit(`s = (${R(SP)} - 4) | 0;`);
          emit(stackCheck(j, spOff - 4));
          emit(`${storeWord("s >>> 2", R(a), `s >>> ${PAGE_SHIFT}`)} ${W(SP)} = s;`);
          spOff -= 4;
          break;
        case 0x54: // POP
          emit(`s = ${R(SP)};`);
          emit(stackCheck(j, spOff));
          emit(`${W(SP)} = s + 4;`);
          emit(`${W(a)} = mem32[s >>> 2];`);
          spOff += 4;
          if (a === SP) spWritten();
          break;

        case 0x61: emit(`m.ie = false;`); break; // DI
        case 0x64: emit(`m.vectors[${a}] = ${imm};`); break; // SETVEC
        case 0x6a: // ICOUNT: instructions retired before this one
          usesIcount = true;
          emit(`${W(a)} = (ic0 + (budget - left) - ${L - j}) | 0;`);
          break;

        default:
          // HALT, OP_END, unassigned opcodes (and, defensively, anything else): the
          // interpreter executes it.
          if (BY_OP[op]?.sys) throw new Error(`compile: sys instruction inside a block at ${pc}`);
          emit(bail(j));
          break;
      }
      // Any other write to the stack pointer forgets what the block knew about it.
      if (a === SP && op !== 0x53 && op !== 0x54 && BY_OP[op]?.operands[0] === "rA") spWritten();
    }
    // The block's end: fall into the next instruction.
    if (fall[bi] >= 0) {
      const g = jump(bi, fall[bi], true, next);
      if (g) emit(g);
    }
  };

  const top = items(0, k - 1, -1);
  top.forEach((it, i) => {
    if (it.loop && labelled[it.start]) emit(`case ${it.start}: // loop at pc ${blocks[it.start]}`);
    emitItem(it, i + 1 < top.length ? top[i + 1].start : -1);
  });

  const map = new Int32Array(hi - lo + 1).fill(-1);
  const entries: number[] = [];
  for (let i = 0; i < k; i++)
    if (labelled[i]) {
      map[blocks[i] - lo] = i;
      entries.push(blocks[i]);
    }
  const regs = [...read].sort((x, y) => x - y);
  const decl = regs.map((i) => `r${i} = R[${i}]`).join(", ");
  const wb = [...written].sort((x, y) => x - y).map((i) => `R[${i}] = r${i};`).join(" ");
  const source = [
    `"use strict";`,
    `return function region_${root}(m, budget) {`,
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
  return { source, map, entries };
}
