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
${PRINT_UINT}
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

/** print_uint: r1 as unsigned decimal; clobbers r1..r5 (both guests include it). */
const PRINT_UINT = `
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
`;

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

// ---- the disk guest ------------------------------------------------------------------
//
// A workload for the shared disk: it writes `records` records of one 64-byte block each,
// record k to block 1 + (k mod recordBlocks) (so later records overwrite earlier ones, and
// the device's ordering rule decides what a block holds), keeping up to `window` requests
// outstanding; after every `readEvery`-th write it reads the same block back (the device
// orders the read after that write and before any later write there) and checks it in
// the completion handler: magic, record index, checksum. Finally it writes a header
// record (index `records`) to block 0. What it writes is a function of k alone — RAND
// only decides how much work comes between requests — so every complete execution,
// whatever the completion order and the failures, leaves the same image and prints the
// same lines.
//
// Exactly once, as the guest sees it: it predicts each request's slot (the lowest free
// one) and checks DISK_START returns it; a completion must be for a busy slot with the
// tag started there, with DISK_OK. Any mismatch counts as an error; the count is in
// every progress line ("w K E") and in the last ("done N READS E"), so a run with an
// error prints something a correct run never does.

export interface DiskGuestParams {
  records: number;
  /** Blocks records go to (a power of two); the disk has one more (block 0: the header). */
  recordBlocks: number;
  /** Requests outstanding at most (1..DISK_REQUESTS_MAX). */
  window: number;
  /** Read back after every this many writes (a power of two). */
  readEvery: number;
}

export const DISK_GUEST_BLOCK_BYTES = 64;
/** A read's tag: this bit plus the index of the record it expects. */
const READ_TAG = 0x100000;

export function diskGeometry(p: DiskGuestParams): { blocks: number; blockBytes: number } {
  return { blocks: p.recordBlocks + 1, blockBytes: DISK_GUEST_BLOCK_BYTES };
}

/** The bytes of record k in block `block`: what the guest writes (the reference for checks and tests). */
export function diskRecord(k: number, block: number): Uint8Array {
  const w = new Uint32Array(16);
  w[0] = 0x444d4953;
  w[1] = k;
  w[2] = block;
  const key = Math.imul(k, 0x9e3779b1) >>> 0;
  for (let i = 3; i < 15; i++) w[i] = (Math.imul(i, 0x01000193) ^ key) >>> 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < 15; i++) h = Math.imul(h ^ w[i], 0x01000193) >>> 0;
  w[15] = h;
  return new Uint8Array(w.buffer);
}

export function diskGuestSource(p: DiskGuestParams): string {
  for (const [name, v] of [["recordBlocks", p.recordBlocks], ["readEvery", p.readEvery]] as const)
    if (!Number.isInteger(Math.log2(v))) throw new RangeError(`${name} must be a power of two, got ${v}`);
  if (!(p.window >= 1 && p.window <= 8)) throw new RangeError(`window must be 1..8, got ${p.window}`);
  if (!(p.records >= 1 && p.records < READ_TAG)) throw new RangeError(`records must be 1..${READ_TAG - 1}, got ${p.records}`);
  return `; sim disk guest: ${p.records} records over ${p.recordBlocks} blocks, ${p.window} outstanding, a read every ${p.readEvery}
.const RECORDS ${p.records}
.const BLOCK_MASK ${p.recordBlocks - 1}
.const WINDOW ${p.window}
.const READ_MASK ${p.readEvery - 1}
.const READ_TAG ${READ_TAG}
.const INDEX_MASK ${READ_TAG - 1}
.const REC_MAGIC 0x444D4953

.data
busy:    .zero 8                ; a byte per slot: started and not yet taken
         .align 4
tags:    .zero 32               ; a word per slot: the tag it was started with
reads:   .word 0                ; reads checked
errors:  .word 0
bufs:    .zero 512              ; 64 bytes per slot

.code
main:
    SETVEC VEC_DISK, on_disk
    LI r1, 1
    OUT DISK_CTRL, r1
    EI
    LI r7, 0                    ; record k
record:
    RAND r8                     ; a random amount of work: timing only
    ANDI r10, r8, 63
work:
    BEQZ r10, worked
    ADDI r10, r10, -1
    JMP work
worked:
    LI r1, DISK_WRITE
    ANDI r2, r7, BLOCK_MASK
    ADDI r2, r2, 1
    MOV r3, r7
    LI r4, 0
    CALL start_req
    ANDI r1, r7, READ_MASK
    BNEZ r1, no_read
    LI r1, DISK_READ
    ANDI r2, r7, BLOCK_MASK
    ADDI r2, r2, 1
    MOV r3, r7
    LI r4, READ_TAG
    CALL start_req
no_read:
    ADDI r7, r7, 1
    ANDI r1, r7, 15
    BNEZ r1, next
    LI r1, 119                  ; "w K E"
    OUT CON_OUT, r1
    CALL space
    MOV r1, r7
    CALL print_uint
    CALL space
    LDW r1, [errors]
    CALL print_uint
    LI r1, 10
    OUT CON_OUT, r1
next:
    SLTI r1, r7, RECORDS
    BNEZ r1, record
    LI r8, 0                    ; wait for every request, then write the header
    CALL wait_below
    LI r1, DISK_WRITE
    LI r2, 0
    LI r3, RECORDS
    LI r4, 0
    CALL start_req
    LI r8, 0
    CALL wait_below
    LI r1, 100                  ; "done N READS E"
    OUT CON_OUT, r1
    LI r1, 111
    OUT CON_OUT, r1
    LI r1, 110
    OUT CON_OUT, r1
    LI r1, 101
    OUT CON_OUT, r1
    CALL space
    LI r1, RECORDS
    CALL print_uint
    CALL space
    LDW r1, [reads]
    CALL print_uint
    CALL space
    LDW r1, [errors]
    CALL print_uint
    LI r1, 10
    OUT CON_OUT, r1
    HALT

space:
    LI r1, 32
    OUT CON_OUT, r1
    RET

; wait_below: sleep until fewer than r8 + 1 requests are outstanding (r8 = 0: none). Clobbers r1.
wait_below:
    DI
    IN r1, DISK_PENDING
    BGE r8, r1, wait_below_done
    EI
    WFI
    JMP wait_below
wait_below_done:
    EI
    RET

; start_req: r1 = op, r2 = block, r3 = record index, r4 = 0 or READ_TAG. Waits for room
; (fewer than WINDOW outstanding), builds a write's record in the slot's buffer, starts
; the request with tag r3 | r4. Clobbers r1..r6, r8..r12.
start_req:
    MOV r12, r1
    LI r8, WINDOW - 1
    CALL wait_below
    DI
    LI r5, 0                    ; the slot the device will pick: the lowest free one
find_slot:
    LDB r6, [r5+busy]
    BEQZ r6, found_slot
    ADDI r5, r5, 1
    JMP find_slot
found_slot:
    SHLI r6, r5, 6
    LI r1, bufs
    ADD r6, r6, r1              ; r6 = the slot's buffer
    LI r1, DISK_WRITE
    BNE r12, r1, built
    LI r1, REC_MAGIC            ; the record: magic, k, block, 12 words of f(k), checksum
    STW r1, [r6]
    STW r3, [r6+4]
    STW r2, [r6+8]
    MULI r9, r3, 0x9E3779B1
    LI r10, 3
fill:
    SLTI r1, r10, 15
    BEQZ r1, filled
    MULI r1, r10, 0x01000193
    XOR r1, r1, r9
    SHLI r11, r10, 2
    ADD r11, r11, r6
    STW r1, [r11]
    ADDI r10, r10, 1
    JMP fill
filled:
    CALL cksum
    STW r8, [r6+60]
built:
    OUT DISK_OP, r12
    OUT DISK_BLOCK, r2
    LI r1, 1
    OUT DISK_COUNT, r1
    OUT DISK_ADDR, r6
    OR r4, r3, r4
    OUT DISK_TAG, r4
    IN r1, DISK_START
    BEQ r1, r5, started
    CALL error                  ; not the slot predicted (or refused)
    EI
    RET
started:
    LI r1, 1
    STB r1, [r5+busy]
    SHLI r1, r5, 2
    STW r4, [r1+tags]
    EI
    RET

; cksum: FNV-1a over words 0..14 of the buffer at r6, into r8. Clobbers r9..r11.
cksum:
    LI r8, 0x811C9DC5
    LI r9, 0
cksum_loop:
    SLTI r10, r9, 15
    BEQZ r10, cksum_done
    SHLI r10, r9, 2
    ADD r10, r10, r6
    LDW r11, [r10]
    XOR r8, r8, r11
    MULI r8, r8, 0x01000193
    ADDI r9, r9, 1
    JMP cksum_loop
cksum_done:
    RET

; error: count one. Clobbers nothing.
error:
    PUSH r1
    LDW r1, [errors]
    ADDI r1, r1, 1
    STW r1, [errors]
    POP r1
    RET

; VEC_DISK: take every completion; each must be for a busy slot, with the tag started
; there and DISK_OK; a read's buffer must hold the record its tag names.
on_disk:
    PUSH r1
    PUSH r2
    PUSH r3
    PUSH r4
    PUSH r6
    PUSH r8
    PUSH r9
    PUSH r10
    PUSH r11
on_disk_next:
    IN r1, DISK_DONE
    BLT r1, r0, on_disk_out
    LDB r2, [r1+busy]
    BNEZ r2, was_busy
    CALL error                  ; a completion for a slot with nothing outstanding
    JMP on_disk_next
was_busy:
    LI r2, 0
    STB r2, [r1+busy]
    IN r2, DISK_DONE_TAG
    SHLI r3, r1, 2
    LDW r3, [r3+tags]
    BNE r2, r3, bad
    IN r3, DISK_DONE_STATUS
    BNEZ r3, bad
    LI r3, READ_TAG
    AND r3, r2, r3
    BEQZ r3, on_disk_next
    SHLI r6, r1, 6
    LI r3, bufs
    ADD r6, r6, r3
    LDW r3, [r6]
    LI r4, REC_MAGIC
    BNE r3, r4, bad
    LDW r3, [r6+4]
    LI r4, INDEX_MASK
    AND r4, r2, r4
    BNE r3, r4, bad
    CALL cksum
    LDW r3, [r6+60]
    BNE r3, r8, bad
    LDW r3, [reads]
    ADDI r3, r3, 1
    STW r3, [reads]
    JMP on_disk_next
bad:
    CALL error
    JMP on_disk_next
on_disk_out:
    POP r11
    POP r10
    POP r9
    POP r8
    POP r6
    POP r4
    POP r3
    POP r2
    POP r1
    IRET
${PRINT_UINT}`;
}

export function diskGuestImage(p: DiskGuestParams): Image {
  const key = `disk ${p.records}/${p.recordBlocks}/${p.window}/${p.readEvery}`;
  let img = cache.get(key);
  if (!img) {
    img = assemble(diskGuestSource(p), "sim-disk-guest.s");
    cache.set(key, img);
  }
  return img;
}
