// The guest the simulator runs: small (about 400 instructions a line, a few hundred
// lines) but full of nondeterministic input, so any divergence between executions shows
// in its output and its state. Each line prints its number, 16 bits of RAND, the TIME,
// the timer ticks so far and a running hash of every RAND read (also kept in memory, so
// the memory digest depends on every input). The timer handler prints "*" wherever the
// interrupt lands (mid-line), so the output also depends on the exact delivery icounts.
// Every few lines the guest waits for a tick (WFI), so simulated time passes between
// bursts of output. Self-contained: no .include, nothing read from disk.
import { assemble } from "../asm/assembler.js";
import type { Image } from "../vm/image.js";

export interface GuestParams {
  /** Lines printed before HALT. */
  lines: number;
  /** Timer period (virtual µs). */
  periodUs: number;
  /** Wait for a timer tick after every this many lines (a power of two). */
  waitEvery: number;
}

export function guestSource(p: GuestParams): string {
  if (!Number.isInteger(Math.log2(p.waitEvery))) throw new RangeError(`waitEvery must be a power of two, got ${p.waitEvery}`);
  return `; sim guest: ${p.lines} lines, timer every ${p.periodUs} us, a wait every ${p.waitEvery} lines
.const LINES ${p.lines}
.const PERIOD_US ${p.periodUs}
.const WAIT_MASK ${p.waitEvery - 1}

.data
ticks:  .word 0
acc:    .word 0
lastt:  .word 0

.code
main:
    SETVEC VEC_TIMER, on_tick
    LI r1, PERIOD_US
    OUT TIMER_PERIOD, r1
    EI
    LI r7, 0                    ; line number
line:
    ADDI r7, r7, 1
    RAND r8
    LDW r9, [acc]
    MULI r9, r9, 31
    ADD r9, r9, r8
    ANDI r10, r8, 31            ; a random amount of work
work:
    BEQZ r10, worked
    MULI r9, r9, 1103515245
    ADDI r9, r9, 12345
    ADDI r10, r10, -1
    JMP work
worked:
    STW r9, [acc]
    MOV r1, r7
    CALL print_uint
    CALL space
    SHRI r1, r8, 16
    CALL print_uint
    CALL space
    TIME r1
    CALL print_uint
    CALL space
    LDW r1, [ticks]
    CALL print_uint
    CALL space
    LDW r1, [acc]
    SHRI r1, r1, 20
    CALL print_uint
    LI r1, 10
    OUT CON_OUT, r1
    ANDI r1, r7, WAIT_MASK
    BNEZ r1, next
    LDW r11, [ticks]            ; wait for the next tick
wait:
    DI
    LDW r1, [ticks]
    BNE r1, r11, waited
    EI
    WFI
    JMP wait
waited:
    EI
next:
    SLTI r1, r7, LINES
    BNEZ r1, line
    LI r1, 0
    OUT TIMER_PERIOD, r1
    HALT

space:
    LI r1, 32
    OUT CON_OUT, r1
    RET

; print_uint: r1 as unsigned decimal; clobbers r1..r5
print_uint:
    ADDI sp, sp, -12
    ADDI r2, sp, 12
    MOV r3, r2
    LI r4, 10
print_uint_digit:
    REMU r5, r1, r4
    DIVU r1, r1, r4
    ADDI r5, r5, 48
    ADDI r3, r3, -1
    STB r5, [r3]
    BNEZ r1, print_uint_digit
print_uint_out:
    LDB r1, [r3]
    OUT CON_OUT, r1
    ADDI r3, r3, 1
    BLTU r3, r2, print_uint_out
    ADDI sp, sp, 12
    RET

on_tick:
    PUSH r1
    LDW r1, [ticks]
    ADDI r1, r1, 1
    STW r1, [ticks]
    TIME r1
    STW r1, [lastt]
    LI r1, 42
    OUT CON_OUT, r1
    POP r1
    IRET
`;
}

const cache = new Map<string, Image>();

export function guestImage(p: GuestParams): Image {
  const key = `${p.lines}/${p.periodUs}/${p.waitEvery}`;
  let img = cache.get(key);
  if (!img) {
    img = assemble(guestSource(p), "sim-guest.s");
    cache.set(key, img);
  }
  return img;
}
