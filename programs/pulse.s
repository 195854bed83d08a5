; pulse.s — a long, steady guest for repeated failovers: prints 1 to 40000, one number
; per line, ten lines per timer tick (a tick every 5 ms), so it runs for about 20 s.
;
; Shows: output that is trivially checkable (it must be exactly `seq 1 40000`) from a guest
; that keeps going long enough to kill its primary again and again while new backups
; join by clone: `ftvm ft programs/pulse.s --crash-primary-every-ms 1000`.
; The guest is idle between ticks (WFI), so primary and backup cost little CPU.
.include "printnum.s"

.const PERIOD_US 5000
.const LINES 40000
.const LINES_PER_TICK 10

.data
ticks:     .word 0

.code
main:
    SETVEC VEC_TIMER, on_tick
    LI r1, PERIOD_US
    OUT TIMER_PERIOD, r1
    LI r7, 0                    ; the last number printed
line:
    ADDI r7, r7, 1
    MOV r1, r7
    CALL print_uint             ; clobbers r1..r5; r7 survives
    LI r1, 10
    OUT CON_OUT, r1
    LI r2, LINES_PER_TICK
    REMU r1, r7, r2
    BNEZ r1, next
    LDW r8, [ticks]             ; wait for the next tick
wait:
    DI                          ; check with interrupts off, then EI; WFI (atomic)
    LDW r1, [ticks]
    BNE r1, r8, waited
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

on_tick:
    PUSH r1
    LDW r1, [ticks]
    ADDI r1, r1, 1
    STW r1, [ticks]
    POP r1
    IRET
