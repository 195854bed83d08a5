; traps.s — a guest fault: division by zero traps.
;
; Shows: a trap stops the machine at the faulting instruction (which does not retire) and
; ftvm reports its kind, pc and source line on stderr; the exit status is non-zero. A trap
; is deterministic, so a replay (and a backup) traps at the same instruction count.
; Other traps: see trap_stack.s (stack overflow) and trap_misaligned.s (misaligned word).
; Run:   node --import tsx src/cli/main.ts run programs/traps.s
; Expected output: on stdout
;   dividing 7 by 0...
; then on stderr a division-by-zero trap report pointing at the DIV line; exit status 1.
.include "print.s"

.data
msg: .asciz "dividing 7 by 0...\n"

.code
main:
    LI r1, msg
    CALL print_str
    LI r1, 7
    LI r2, 0
    DIV r3, r1, r2              ; traps: division-by-zero
    LI r1, never
    CALL print_str              ; never reached
    HALT

.data
never: .asciz "not reached\n"
