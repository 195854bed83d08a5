// Machine state as a plain, versioned value: used by snapshot/restore, cloning a backup
// and tests (save → restore → continue must give the same trace as never stopping).
import { OperatingError } from "../base/errors.js";
import { REGISTER_COUNT } from "../../isa/table.js";
import type { Machine } from "./machine.js";
import type { Trap } from "./trap.js";
import { hashWords } from "./digest.js";

export const MACHINE_STATE_VERSION = 1;

export interface MachineState {
  version: number;
  /** Identifies the program: restoring into a machine running other code is refused. */
  codeHash: number;
  /** r0..r15 (plain numbers, so the state encodes the same everywhere). */
  regs: number[];
  pc: number;
  icount: number;
  ie: boolean;
  eiShadowIcount: number;
  waiting: boolean;
  halted: boolean;
  trap: Trap | null;
  vectors: number[];
  memBytes: number;
  stackBytes: number;
  mem: Uint8Array;
}

export function codeHash(m: Machine): number {
  return hashWords(m.image.code, 0, m.image.code.length, m.image.entry);
}

/** The state as a value. `into`: a buffer of memBytes to copy memory into (instead of a new one). */
export function getMachineState(m: Machine, into?: Uint8Array): MachineState {
  if (into && into.length !== m.memBytes) throw new Error(`snapshot: buffer of ${into.length} bytes for ${m.memBytes} bytes of memory`);
  return {
    version: MACHINE_STATE_VERSION,
    codeHash: codeHash(m),
    regs: Array.from(m.regs.subarray(0, REGISTER_COUNT)),
    pc: m.pc,
    icount: m.icount,
    ie: m.ie,
    eiShadowIcount: m.eiShadowIcount,
    waiting: m.waiting,
    halted: m.halted,
    trap: m.trap ? { ...m.trap } : null,
    vectors: Array.from(m.vectors),
    memBytes: m.memBytes,
    stackBytes: m.stackBytes,
    mem: into ? (into.set(m.mem), into) : m.mem.slice(),
  };
}

export class StateError extends OperatingError {}

export function setMachineState(m: Machine, s: MachineState): void {
  if (s.version !== MACHINE_STATE_VERSION) throw new StateError(`machine state version ${s.version}, expected ${MACHINE_STATE_VERSION}`);
  if (s.codeHash !== codeHash(m)) throw new StateError(`machine state is for another program (code hash ${s.codeHash}, this program ${codeHash(m)})`);
  if (s.memBytes !== m.memBytes || s.stackBytes !== m.stackBytes)
    throw new StateError(`machine state has memory ${s.memBytes}/stack ${s.stackBytes}, this machine ${m.memBytes}/${m.stackBytes}`);
  if (s.regs.length !== REGISTER_COUNT || s.vectors.length !== m.vectors.length || s.mem.length !== m.memBytes)
    throw new StateError(`machine state is malformed: ${s.regs.length} registers, ${s.vectors.length} vectors, ${s.mem.length} memory bytes`);
  setCpuState(m, s, s.icount);
  // A clone's memory may have landed in the machine's own memory already (CloneAssembler.receiveInto).
  if (s.mem !== m.mem) m.mem.set(s.mem);
  m.dirty.fill(1);
}

/** The processor's part of a machine state: what setCpuState restores (memory aside). */
export interface CpuFields {
  regs: ArrayLike<number>;
  pc: number;
  ie: boolean;
  eiShadowIcount: number;
  waiting: boolean;
  halted: boolean;
  trap: Trap | null;
  vectors: ArrayLike<number>;
}

/**
 * Restores registers, pc, icount, interrupt state, halt/trap and vectors, in one place for
 * every restorer (snapshots, clones, the debugger's checkpoints), so a new machine field
 * cannot be restored by one and forgotten by another.
 */
export function setCpuState(m: Machine, c: CpuFields, icount: number): void {
  m.regs.set(c.regs);
  m.pc = c.pc;
  m.icount = icount;
  m.ie = c.ie;
  m.eiShadowIcount = c.eiShadowIcount;
  m.waiting = c.waiting;
  m.halted = c.halted;
  m.trap = c.trap ? { ...c.trap } : null;
  m.vectors.set(c.vectors);
  m.stopRequested = false;
}
