; ticker.s — a steady, slow guest for fault-tolerance demos: one line every 20 ms.
;
; Shows: a guest that runs for a few seconds of real time (timer interrupts, WFI between
; ticks) and prints `tick N of 150 at T us` on every tick, so a crash of the primary in
; the middle is easy to watch: the lines go on with no gap, no duplicate and no going
; back. The tick numbers are deterministic; the times (TIME, a logged input) are not.
; Run:   node --import tsx src/cli/main.ts ft programs/ticker.s --crash-primary-after-ms 1500
; Expected output (exit status 0): 150 lines, `tick 1 of 150 at ...` to `tick 150 of 150 at ...`.
.include "printnum.s"

.const PERIOD_US 20000
.const TICKS 150

.data
ticks:     .word 0
tick_text: .asciz "tick "
of_text:   .asciz " of 150 at "
us_text:   .asciz " us\n"

.code
main:
    SETVEC VEC_TIMER, on_tick
    LI r1, PERIOD_US
    OUT TIMER_PERIOD, r1
idle:
    DI                          ; check with interrupts off, then EI; WFI (atomic)
    LDW r1, [ticks]
    SLTI r1, r1, TICKS
    BEQZ r1, done
    EI
    WFI
    JMP idle
done:
    LI r1, 0
    OUT TIMER_PERIOD, r1
    HALT

on_tick:
    PUSH r1
    PUSH r2
    PUSH r3
    PUSH r4
    PUSH r5
    PUSH r7
    TIME r7
    LDW r1, [ticks]
    ; A timer that fell behind (after a failover's catch-up, say) can have two interrupts
    ; pending: the second may arrive before idle disables interrupts again. Count no tick
    ; past TICKS.
    SLTI r2, r1, TICKS
    BEQZ r2, tick_done
    ADDI r1, r1, 1
    STW r1, [ticks]
    LI r1, tick_text
    CALL print_str
    LDW r1, [ticks]
    CALL print_uint
    LI r1, of_text
    CALL print_str
    MOV r1, r7
    CALL print_uint
    LI r1, us_text
    CALL print_str
tick_done:
    POP r7
    POP r5
    POP r4
    POP r3
    POP r2
    POP r1
    IRET
