; timesum.s — read TIME into a running sum kept in memory, with a short spin between reads.
;
; Shows: a logged input every 107 instructions and state (a register and a memory word)
; that depends on each value read: the worst case for a per-event cost, such as the
; backup's state digest check (test/state-check.test.ts, tools/bench/state-digest.ts).
; Run:   node --import tsx src/cli/main.ts run programs/timesum.s
; Expected output: none; exit status 0 after LOOPS reads (the sum depends on the clock).
.const LOOPS 400

.data
acc: .word 0

.code
main:
    LI r3, LOOPS
loop:
    TIME r1
    LDW r2, [acc]
    ADD r2, r2, r1
    STW r2, [acc]
    LI r4, 50
spin:
    ADDI r4, r4, -1
    BNEZ r4, spin
    ADDI r3, r3, -1
    BNEZ r3, loop
    HALT
