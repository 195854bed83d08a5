; timeread.s — a counter that prints TIME and RAND values: nondeterministic inputs.
;
; Shows: TIME (virtual clock, microseconds since boot) and RAND (32 random bits) return
; different values on every run; `ftvm record` logs each value and `ftvm replay` feeds the
; logged values back, so a replay prints exactly what the recorded run printed.
; Between lines a busy loop burns about 600000 instructions so the times visibly advance.
; Run:   node --import tsx src/cli/main.ts run programs/timeread.s
;        node --import tsx src/cli/main.ts record programs/timeread.s -o /tmp/t.ftlog
;        node --import tsx src/cli/main.ts replay /tmp/t.ftlog     (same output as recorded)
; Expected output (exit status 0): 10 lines "i time_us rand_hex", values vary, e.g.
;   1 153 8f3a01c2
;   2 4721 0d5e77a9
;   ...
;   10 41234 c0ffee11
.include "printnum.s"

.const LINES 10
.const SPIN 200000              ; busy-loop iterations between lines

.code
main:
    LI r7, 1                    ; r7 = line number
line:
    MOV r1, r7
    CALL print_uint
    LI r1, ' '
    CALL print_char
    TIME r1                     ; logged input: microseconds since boot (low 32 bits)
    CALL print_uint
    LI r1, ' '
    CALL print_char
    RAND r1                     ; logged input: 32 random bits
    CALL print_hex
    CALL print_newline

    LI r8, SPIN
spin:
    ADDI r8, r8, -1
    BNEZ r8, spin

    ADDI r7, r7, 1
    SLTI r1, r7, LINES + 1
    BNEZ r1, line
    HALT
