// The machine: CPU registers, data memory, interrupt state and the decoded program.
// It is a deterministic state machine: run(limit) executes instructions until icount
// reaches limit exactly, or the guest halts, traps or waits for an interrupt. Everything
// that could differ between two hosts reaches it only through `sys` (the device bus).
import { OperatingError } from "../base/errors.js";
import { ABSOLUTE_BIT, BY_OP, REGISTER_COUNT, SP, VECTOR_COUNT, WORDS_PER_INSTRUCTION } from "../../isa/table.js";
import type { Image } from "./image.js";
import { instructionCount } from "./image.js";
import type { Trap, TrapKind } from "./trap.js";
import { interpret } from "./interp.js";

export type RunResult = "continue" | "halted" | "waiting" | "trapped";

/** What the machine calls for IN, OUT, TIME, RAND and HOSTID (implemented by the device bus). */
export interface Sys {
  in(port: number): number;
  out(port: number, value: number): void;
  time(): number;
  rand(): number;
  hostId(): number;
  /** Called after EI or IRET re-enables interrupts, so a live environment can note pending ones. */
  interruptsEnabled(): void;
}

export interface MachineOptions {
  /** Data memory size in bytes (a multiple of 4096). */
  memBytes?: number;
  /** Size of the stack region at the top of data memory, in bytes (a multiple of 4). */
  stackBytes?: number;
  /**
   * Keep `changed`, a flag per 4-byte word set by every store that changes the word's
   * value. The debugger uses it to tell which words an interval of the history changed;
   * machines without it pay nothing (the compiled engine emits the check only for them).
   */
  trackChanges?: boolean;
}

export const MEM_BYTES_DEFAULT = 1024 * 1024;
export const STACK_BYTES_DEFAULT = 64 * 1024;
/** Data memory may not exceed this: the machine holds it in one ArrayBuffer. */
export const MEM_BYTES_MAX = 1024 * 1024 * 1024;
export const PAGE_SHIFT = 12;
export const PAGE_BYTES = 1 << PAGE_SHIFT;
/** A register index that always reads 0: absolute memory operands use it as their base. */
export const ZERO_REG = REGISTER_COUNT;
/** Opcode placed after the last instruction: executing it traps pc-out-of-code. */
export const OP_END = 0xff;

/**
 * A machine that cannot be built as asked: a memory or stack size out of range, or a
 * program whose data does not fit its memory. An operating error (the CLI reports it and
 * exits 2), not a bug; a RangeError so that callers catching those still do.
 */
export class MachineConfigError extends OperatingError {}

/**
 * The machine's own typed-array classes. V8 compiles the guest's regions (compile.ts) with
 * the machine's arrays as constants and leaves out a map check at each access only while
 * the arrays' map is stable; a plain Uint8Array's map loses that as soon as anything in
 * the process transitions one (Node's own crypto does, on the first HMAC or WebSocket
 * handshake), and from then on every guest store paid a map check: fib(39) ran about 10%
 * slower on a primary that had accepted its backup than on one that never had. Nothing
 * outside the machine makes instances of these classes, so their maps stay stable.
 * Slices and subarrays are plain arrays again (species), so nothing else sees the class.
 */
export class GuestBytes extends Uint8Array {
  static get [Symbol.species](): Uint8ArrayConstructor {
    return Uint8Array;
  }
}
export class GuestWords extends Int32Array {
  static get [Symbol.species](): Int32ArrayConstructor {
    return Int32Array;
  }
}

export class Machine {
  readonly image: Image;
  /** r0..r15, plus ZERO_REG (always 0). */
  readonly regs: Int32Array = new GuestWords(REGISTER_COUNT + 1);
  pc = 0;
  /** Instructions retired since boot (a safe integer). */
  icount = 0;
  /** Interrupts enabled. */
  ie = false;
  /** The boundary right after the last EI: no interrupt may be taken there (see EI in interp.ts). */
  eiShadowIcount = -1;
  /** Executed WFI and waits for an interrupt. */
  waiting = false;
  halted = false;
  trap: Trap | null = null;
  /** Handler code address per vector, -1 when unset. */
  readonly vectors = new Int32Array(VECTOR_COUNT).fill(-1);

  readonly memBytes: number;
  readonly stackBytes: number;
  readonly stackBase: number;
  readonly mem: Uint8Array;
  readonly mem32: Int32Array;
  /** One flag per 4 KiB page, set by every store: lets digests and snapshots skip clean pages. */
  readonly dirty: Uint8Array;
  /** With trackChanges: one flag per 4-byte word, made non-zero by every store that changes its value (cleared only by its owner). */
  readonly changed: Uint8Array | null;

  /** Decoded code: one entry per instruction plus the OP_END sentinel. */
  readonly codeLength: number;
  readonly ops: Uint8Array;
  readonly fa: Uint8Array;
  readonly fb: Uint8Array;
  readonly fc: Uint8Array;
  readonly imm: Int32Array;

  sys: Sys = NO_SYS;
  /** A device asks run() to return at the next instruction boundary (e.g. its output buffer is full). */
  stopRequested = false;
  /** Replaced by the compiled engine when one is attached (see src/vm/compile.ts). */
  engine: (m: Machine, limit: number) => RunResult = interpret;

  constructor(image: Image, opts: MachineOptions = {}) {
    this.image = image;
    const memBytes = opts.memBytes ?? MEM_BYTES_DEFAULT;
    const stackBytes = opts.stackBytes ?? STACK_BYTES_DEFAULT;
    if (!Number.isInteger(memBytes) || memBytes < PAGE_BYTES || memBytes % PAGE_BYTES !== 0 || memBytes > MEM_BYTES_MAX)
      throw new MachineConfigError(`memory size ${memBytes} must be a multiple of ${PAGE_BYTES} between ${PAGE_BYTES} and ${MEM_BYTES_MAX}`);
    if (!Number.isInteger(stackBytes) || stackBytes < 4 || stackBytes % 4 !== 0 || stackBytes >= memBytes)
      throw new MachineConfigError(`stack size ${stackBytes} must be a multiple of 4 smaller than memory (${memBytes})`);
    if (image.data.length > memBytes - stackBytes)
      throw new MachineConfigError(
        `the program's data (${image.data.length} bytes) does not fit in memory: ${memBytes} bytes of memory less the ${stackBytes}-byte stack leave ${memBytes - stackBytes} bytes for it (give more with --mem)`,
      );
    this.memBytes = memBytes;
    this.stackBytes = stackBytes;
    this.stackBase = memBytes - stackBytes;
    this.mem = new GuestBytes(memBytes);
    this.mem32 = new GuestWords(this.mem.buffer as ArrayBuffer);
    this.dirty = new GuestBytes(memBytes >>> PAGE_SHIFT).fill(1);
    this.changed = opts.trackChanges ? new Uint8Array(memBytes >>> 2) : null;
    this.mem.set(image.data);

    const n = instructionCount(image);
    this.codeLength = n;
    this.ops = new Uint8Array(n + 1);
    this.fa = new Uint8Array(n + 1);
    this.fb = new Uint8Array(n + 1);
    this.fc = new Uint8Array(n + 1);
    this.imm = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const w0 = image.code[i * WORDS_PER_INSTRUCTION];
      const op = w0 & 0xff;
      // Opcodes nobody assigned decode to OP_END's neighbour: the interpreter traps on them.
      this.ops[i] = BY_OP[op] ? op : 0xfe;
      this.fa[i] = (w0 >>> 8) & 15;
      this.fb[i] = w0 & ABSOLUTE_BIT ? ZERO_REG : (w0 >>> 12) & 15;
      this.fc[i] = (w0 >>> 16) & 15;
      this.imm[i] = image.code[i * WORDS_PER_INSTRUCTION + 1];
      // A static jump, branch or call target outside the code goes to the OP_END
      // sentinel, so taking it traps pc-out-of-code (not an invalid opcode).
      if (BY_OP[op]?.target && this.imm[i] >>> 0 >= n) this.imm[i] = n;
    }
    this.ops[n] = OP_END;
    this.pc = n > 0 ? image.entry : 0;
    this.regs[SP] = memBytes;
  }

  /** Execute until icount reaches `limit`, or the guest halts, traps or waits. */
  run(limit: number): RunResult {
    if (this.halted) return "halted";
    if (this.trap) return "trapped";
    if (this.waiting) return "waiting";
    return this.engine(this, limit);
  }

  /** Stop the guest with a trap at the current pc (the faulting instruction does not retire). */
  raiseTrap(kind: TrapKind, detail: string): RunResult {
    this.trap = { kind, pc: this.pc, icount: this.icount, detail };
    return "trapped";
  }

  /**
   * Enter the handler of `vector` at the current instruction boundary. The caller (an
   * environment delivering an event) has checked that interrupts are enabled; entering
   * with them disabled is a programmer error.
   */
  interrupt(vector: number): void {
    if (!this.ie || this.icount === this.eiShadowIcount) throw new Error(`machine: interrupt ${vector} entered with interrupts disabled (or right after EI)`);
    if (this.halted || this.trap) return;
    const target = this.vectors[vector];
    if (target < 0) {
      this.raiseTrap("unhandled-interrupt", `interrupt ${vector} has no handler (SETVEC ${vector}, label)`);
      return;
    }
    const sp = this.regs[SP] - 4;
    if (!this.stackOk(sp)) return;
    if (this.changed !== null && this.mem32[sp >>> 2] !== this.pc) this.changed[sp >>> 2] = 1;
    this.mem32[sp >>> 2] = this.pc;
    this.dirty[sp >>> PAGE_SHIFT] = 1;
    this.regs[SP] = sp;
    this.ie = false;
    this.waiting = false;
    this.pc = target;
  }

  /**
   * Copies `bytes` into memory at `addr` (a device landing data: a disk read, a received
   * network record), marking the pages dirty and, when tracked, the words it changes.
   * The caller has checked the range.
   */
  storeBytes(addr: number, bytes: Uint8Array): void {
    const n = bytes.length;
    if (n === 0) return;
    const chg = this.changed;
    if (chg !== null) {
      const mem = this.mem;
      for (let i = 0; i < n; i++) if (mem[addr + i] !== bytes[i]) chg[(addr + i) >>> 2] = 1;
    }
    this.mem.set(bytes, addr);
    for (let p = addr >>> PAGE_SHIFT; p <= (addr + n - 1) >>> PAGE_SHIFT; p++) this.dirty[p] = 1;
  }

  /** Checks a stack slot address for PUSH-like accesses; raises the trap when it is bad. */
  stackOk(sp: number): boolean {
    if (sp < this.stackBase) {
      this.raiseTrap("stack-overflow", `sp ${sp} would go below the stack region [${this.stackBase}, ${this.memBytes})`);
      return false;
    }
    if (sp > this.memBytes - 4) {
      this.raiseTrap("stack-underflow", `sp ${sp} is above the stack region [${this.stackBase}, ${this.memBytes})`);
      return false;
    }
    if (sp & 3) {
      this.raiseTrap("misaligned-access", `sp ${sp} is not a multiple of 4`);
      return false;
    }
    return true;
  }
}

const NO_SYS: Sys = {
  in: () => 0,
  out: () => undefined,
  time: () => 0,
  rand: () => 0,
  hostId: () => 0,
  interruptsEnabled: () => undefined,
};
