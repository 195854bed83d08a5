; clock.s — a clock driven by the timer interrupt.
;
; Shows: TIMER_PERIOD, SETVEC, EI, an interrupt handler ending in IRET, and idling with WFI
; (the host sleeps between ticks; no busy-waiting). The handler counts the ticks and reads
; TIME, so every line carries a logged input; a replay reproduces the same lines.
; Run:   node --import tsx src/cli/main.ts run programs/clock.s        (takes about 1 s)
; Expected output (exit status 0): 10 lines, times increasing by about 100000, e.g.
;   tick 1 at 100123 us
;   tick 2 at 200087 us
;   ...
;   tick 10 at 1000154 us
;
; The sleep loop avoids the classic race "check, then sleep" (an interrupt taken after the
; check but before WFI would be slept through): it checks with interrupts disabled, and
; "EI; WFI" is atomic because EI takes effect only after the next instruction (like x86 STI).
.include "printnum.s"

.const PERIOD_US 100000         ; one tick every 0.1 s of virtual time
.const TICKS_MAX 10

.data
ticks:      .word 0
tick_text:  .asciz "tick "
at_text:    .asciz " at "
us_text:    .asciz " us\n"

.code
main:
    SETVEC VEC_TIMER, on_tick
    LI r1, PERIOD_US
    OUT TIMER_PERIOD, r1
idle:
    DI
    LDW r1, [ticks]
    SLTI r1, r1, TICKS_MAX
    BEQZ r1, finished
    EI
clock_sleep:
    WFI                         ; idle until the next tick
    JMP idle
finished:
    LI r1, 0
    OUT TIMER_PERIOD, r1        ; stop the timer
    HALT

; VEC_TIMER handler: entered with interrupts disabled and the return pc pushed.
on_tick:
    PUSH r1
    PUSH r2
    PUSH r3
    PUSH r4
    PUSH r5
    PUSH r7
    TIME r7                     ; when this tick is handled (logged input)
    LDW r1, [ticks]
    ; IRET turns interrupts back on before the main loop's DI: a timer already due again
    ; (the host stalled longer than a period) interrupts there, after the last tick.
    SLTI r2, r1, TICKS_MAX
    BEQZ r2, tick_done
    ADDI r1, r1, 1
    STW r1, [ticks]
    ; "tick N at T us"
    LI r1, tick_text
    CALL print_str
    LDW r1, [ticks]
    CALL print_uint
    LI r1, at_text
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
