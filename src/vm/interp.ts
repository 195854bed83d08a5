// The reference interpreter: one switch over the decoded opcode per instruction.
// It defines the semantics the compiled engine (src/vm/compile.ts) must match exactly;
// test/vm-engines.test.ts runs both over generated programs and compares every state.
// Case labels are literal opcode bytes (V8 builds a jump table only for literal cases);
// test/isa.test.ts proves this switch handles exactly the opcodes of isa/table.ts.
import { SP } from "../../isa/table.js";
import type { Machine, RunResult } from "./machine.js";
import { OP_END, PAGE_SHIFT } from "./machine.js";

export function interpret(m: Machine, limit: number): RunResult {
  const r = m.regs, ops = m.ops, fa = m.fa, fb = m.fb, fc = m.fc, imms = m.imm;
  const mem = m.mem, mem32 = m.mem32, dirty = m.dirty, chg = m.changed;
  const memBytes = m.memBytes, n = m.codeLength;
  let pc = m.pc;
  let ic = m.icount;

  // pc and ic live in locals; every exit and every instruction that may look at the
  // machine (sys instructions, traps) first writes them back (m.pc = pc; m.icount = ic).
  while (ic < limit) {
    const a = fa[pc], b = fb[pc], c = fc[pc], imm = imms[pc];
    switch (ops[pc]) {
      case 0x00: // NOP
        break;
      case 0x01: // HALT
        ic++;
        pc++;
        m.pc = pc; m.icount = ic;
        m.halted = true;
        return "halted";
      case 0x02: // MOV
        r[a] = r[b];
        break;
      case 0x03: // LI
        r[a] = imm;
        break;

      case 0x10: r[a] = (r[b] + r[c]) | 0; break; // ADD
      case 0x11: r[a] = (r[b] - r[c]) | 0; break; // SUB
      case 0x12: r[a] = Math.imul(r[b], r[c]); break; // MUL
      case 0x13: // DIV
        if (r[c] === 0) return trapAt(m, pc, ic, "division-by-zero", `DIV by r${c} = 0`);
        r[a] = (r[b] / r[c]) | 0;
        break;
      case 0x14: // DIVU
        if (r[c] === 0) return trapAt(m, pc, ic, "division-by-zero", `DIVU by r${c} = 0`);
        r[a] = ((r[b] >>> 0) / (r[c] >>> 0)) | 0;
        break;
      case 0x15: // REM
        if (r[c] === 0) return trapAt(m, pc, ic, "division-by-zero", `REM by r${c} = 0`);
        r[a] = (r[b] % r[c]) | 0;
        break;
      case 0x16: // REMU
        if (r[c] === 0) return trapAt(m, pc, ic, "division-by-zero", `REMU by r${c} = 0`);
        r[a] = ((r[b] >>> 0) % (r[c] >>> 0)) | 0;
        break;
      case 0x17: r[a] = r[b] & r[c]; break; // AND
      case 0x18: r[a] = r[b] | r[c]; break; // OR
      case 0x19: r[a] = r[b] ^ r[c]; break; // XOR
      case 0x1a: r[a] = r[b] << r[c]; break; // SHL
      case 0x1b: r[a] = r[b] >>> r[c]; break; // SHR
      case 0x1c: r[a] = r[b] >> r[c]; break; // SAR
      case 0x1d: r[a] = r[b] < r[c] ? 1 : 0; break; // SLT
      case 0x1e: r[a] = r[b] >>> 0 < r[c] >>> 0 ? 1 : 0; break; // SLTU

      case 0x20: r[a] = (r[b] + imm) | 0; break; // ADDI
      case 0x21: r[a] = Math.imul(r[b], imm); break; // MULI
      case 0x22: r[a] = r[b] & imm; break; // ANDI
      case 0x23: r[a] = r[b] | imm; break; // ORI
      case 0x24: r[a] = r[b] ^ imm; break; // XORI
      case 0x25: r[a] = r[b] << imm; break; // SHLI
      case 0x26: r[a] = r[b] >>> imm; break; // SHRI
      case 0x27: r[a] = r[b] >> imm; break; // SARI
      case 0x28: r[a] = r[b] < imm ? 1 : 0; break; // SLTI
      case 0x29: r[a] = r[b] >>> 0 < imm >>> 0 ? 1 : 0; break; // SLTIU

      case 0x30: { // LDW
        const addr = (r[b] + imm) | 0;
        if (addr & 3) return trapAt(m, pc, ic, "misaligned-access", `LDW address ${addr >>> 0} is not a multiple of 4`);
        if (addr >>> 0 > memBytes - 4) return badAddrAt(m, pc, ic, addr, 4);
        r[a] = mem32[addr >>> 2];
        break;
      }
      case 0x31: { // LDB
        const addr = (r[b] + imm) | 0;
        if (addr >>> 0 >= memBytes) return badAddrAt(m, pc, ic, addr, 1);
        r[a] = mem[addr];
        break;
      }
      case 0x32: { // STW
        const addr = (r[b] + imm) | 0;
        if (addr & 3) return trapAt(m, pc, ic, "misaligned-access", `STW address ${addr >>> 0} is not a multiple of 4`);
        if (addr >>> 0 > memBytes - 4) return badAddrAt(m, pc, ic, addr, 4);
        if (chg !== null && mem32[addr >>> 2] !== r[a]) chg[addr >>> 2] = 1;
        mem32[addr >>> 2] = r[a];
        dirty[addr >>> PAGE_SHIFT] = 1;
        break;
      }
      case 0x33: { // STB
        const addr = (r[b] + imm) | 0;
        if (addr >>> 0 >= memBytes) return badAddrAt(m, pc, ic, addr, 1);
        if (chg !== null && mem[addr] !== (r[a] & 255)) chg[addr >>> 2] = 1;
        mem[addr] = r[a];
        dirty[addr >>> PAGE_SHIFT] = 1;
        break;
      }

      case 0x40: pc = imm; ic++; continue; // JMP
      case 0x41: { // JR
        const t = r[a];
        if (t >>> 0 >= n) return trapAt(m, pc, ic, "pc-out-of-code", `JR to ${t >>> 0}, code has ${n} instructions`);
        pc = t;
        ic++;
        continue;
      }
      case 0x42: if (r[a] === r[b]) { pc = imm; ic++; continue; } break; // BEQ
      case 0x43: if (r[a] !== r[b]) { pc = imm; ic++; continue; } break; // BNE
      case 0x44: if (r[a] < r[b]) { pc = imm; ic++; continue; } break; // BLT
      case 0x45: if (r[a] >= r[b]) { pc = imm; ic++; continue; } break; // BGE
      case 0x46: if (r[a] >>> 0 < r[b] >>> 0) { pc = imm; ic++; continue; } break; // BLTU
      case 0x47: if (r[a] >>> 0 >= r[b] >>> 0) { pc = imm; ic++; continue; } break; // BGEU
      case 0x48: if (r[a] === 0) { pc = imm; ic++; continue; } break; // BEQZ
      case 0x49: if (r[a] !== 0) { pc = imm; ic++; continue; } break; // BNEZ

      case 0x50: // CALL
      case 0x51: { // CALLR
        const t = ops[pc] === 0x50 ? imm : r[a];
        if (t >>> 0 >= n) return trapAt(m, pc, ic, "pc-out-of-code", `${ops[pc] === 0x50 ? "CALL" : "CALLR"} to ${t >>> 0}, code has ${n} instructions`);
        const sp = r[SP] - 4;
        if (!stackOk(m, sp, pc, ic)) return "trapped";
        if (chg !== null && mem32[sp >>> 2] !== pc + 1) chg[sp >>> 2] = 1;
        mem32[sp >>> 2] = pc + 1;
        dirty[sp >>> PAGE_SHIFT] = 1;
        r[SP] = sp;
        pc = t;
        ic++;
        continue;
      }
      case 0x52: { // RET
        const sp = r[SP];
        if (!stackOk(m, sp, pc, ic)) return "trapped";
        const t = mem32[sp >>> 2];
        if (t >>> 0 >= n) return trapAt(m, pc, ic, "pc-out-of-code", `RET to ${t >>> 0}, code has ${n} instructions`);
        r[SP] = sp + 4;
        pc = t;
        ic++;
        continue;
      }
      case 0x53: { // PUSH
        const sp = r[SP] - 4;
        if (!stackOk(m, sp, pc, ic)) return "trapped";
        if (chg !== null && mem32[sp >>> 2] !== r[a]) chg[sp >>> 2] = 1;
        mem32[sp >>> 2] = r[a];
        dirty[sp >>> PAGE_SHIFT] = 1;
        r[SP] = sp;
        break;
      }
      case 0x54: { // POP
        const sp = r[SP];
        if (!stackOk(m, sp, pc, ic)) return "trapped";
        r[SP] = sp + 4;
        r[a] = mem32[sp >>> 2];
        break;
      }

      case 0x60: // EI
        // Like x86 STI, EI takes effect one instruction late: no interrupt is taken at
        // the boundary right after it, so "EI; WFI" cannot lose a wake-up in between.
        m.ie = true;
        pc++;
        ic++;
        m.eiShadowIcount = ic;
        m.pc = pc; m.icount = ic;
        m.sys.interruptsEnabled();
        if (m.stopRequested || m.trap) return finish(m);
        continue;
      case 0x61: m.ie = false; break; // DI
      case 0x62: { // IRET
        const sp = r[SP];
        if (!stackOk(m, sp, pc, ic)) return "trapped";
        const t = mem32[sp >>> 2];
        if (t >>> 0 >= n) return trapAt(m, pc, ic, "pc-out-of-code", `IRET to ${t >>> 0}, code has ${n} instructions`);
        r[SP] = sp + 4;
        m.ie = true;
        pc = t;
        ic++;
        m.pc = pc; m.icount = ic;
        m.sys.interruptsEnabled();
        if (m.stopRequested || m.trap) return finish(m);
        continue;
      }
      case 0x63: // WFI
        if (!m.ie) return trapAt(m, pc, ic, "wfi-with-interrupts-disabled", "WFI with interrupts disabled would wait forever");
        pc++;
        ic++;
        m.pc = pc; m.icount = ic;
        m.waiting = true;
        return "waiting";
      case 0x64: m.vectors[a] = imm; break; // SETVEC
      case 0x65: { // IN
        m.pc = pc; m.icount = ic;
        // A trapping IN (a bad port) must not retire: leave A untouched.
        const v = m.sys.in(imm);
        if (m.trap) return "trapped";
        r[a] = v;
        if (m.stopRequested) {
          m.pc = ++pc;
          m.icount = ++ic;
          return finish(m);
        }
        break;
      }
      case 0x66: // OUT
        m.pc = pc; m.icount = ic;
        m.sys.out(imm, r[a]);
        if (m.trap) return "trapped";
        if (m.stopRequested) {
          m.pc = ++pc;
          m.icount = ++ic;
          return finish(m);
        }
        break;
      case 0x67: // TIME
        m.pc = pc; m.icount = ic;
        r[a] = m.sys.time();
        if (m.trap) return "trapped";
        if (m.stopRequested) {
          m.pc = ++pc;
          m.icount = ++ic;
          return finish(m);
        }
        break;
      case 0x68: // RAND
        m.pc = pc; m.icount = ic;
        r[a] = m.sys.rand();
        if (m.trap) return "trapped";
        if (m.stopRequested) {
          m.pc = ++pc;
          m.icount = ++ic;
          return finish(m);
        }
        break;
      case 0x69: // HOSTID
        m.pc = pc; m.icount = ic;
        r[a] = m.sys.hostId();
        if (m.trap) return "trapped";
        if (m.stopRequested) {
          m.pc = ++pc;
          m.icount = ++ic;
          return finish(m);
        }
        break;
      case 0x6a: r[a] = ic; break; // ICOUNT

      case OP_END:
        return trapAt(m, pc, ic, "pc-out-of-code", `execution ran past the last instruction (${n})`);
      default:
        return trapAt(m, pc, ic, "invalid-opcode", `opcode 0x${(m.image.code[pc * 2] & 0xff).toString(16).padStart(2, "0")} is not assigned`);
    }
    pc++;
    ic++;
  }
  m.pc = pc; m.icount = ic;
  return "continue";
}

// Module-level helpers rather than closures inside interpret(): a closure would be
// created (and, under tsx, named) on every call, and the compiled engine calls
// interpret() at the end of every slice.
function trapAt(m: Machine, pc: number, ic: number, kind: Parameters<Machine["raiseTrap"]>[0], detail: string): RunResult {
  m.pc = pc;
  m.icount = ic;
  return m.raiseTrap(kind, detail);
}

function badAddrAt(m: Machine, pc: number, ic: number, addr: number, size: number): RunResult {
  return trapAt(m, pc, ic, "memory-out-of-bounds", `address ${addr >>> 0} + ${size} is outside data memory [0, ${m.memBytes})`);
}

function finish(m: Machine): RunResult {
  m.stopRequested = false;
  return m.trap ? "trapped" : "continue";
}

function stackOk(m: Machine, sp: number, pc: number, ic: number): boolean {
  m.pc = pc;
  m.icount = ic;
  return m.stackOk(sp);
}
