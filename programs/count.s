; count.s — print the numbers 1 to 100000, one per line, then halt.
;
; Shows: a long deterministic run with lots of console output (about 589 KB), the workload
; the record/replay and fail-over tests use. The exact output matters to those tests.
; Run:   node --import tsx src/cli/main.ts run programs/count.s
; Expected output (exit status 0), 100000 lines:
;   1
;   2
;   ...
;   100000
;
; To be fast it never divides: the number is kept as ASCII decimal digits in a buffer and
; incremented in place (the last digit, carrying into the ones before it), and each line is
; printed straight from that buffer, newline included.
.const LAST 100000
.const DIGITS 10                ; room for any 32-bit count

.data
; DIGITS ASCII digits ("0000000000" to start with) followed by the newline.
number:  .zero DIGITS
newline: .byte 10
line_end = newline + 1

.code
main:
    ; Fill the digit buffer with '0'.
    LI r1, number
    LI r2, newline
    LI r3, '0'
init:
    STB r3, [r1]
    ADDI r1, r1, 1
    BLTU r1, r2, init

    LI r7, 1                    ; r7 = the number about to be printed
    LI r8, LAST
    LI r9, newline - 1          ; r9 = address of the most significant digit shown
    LI r10, '9'
    LI r11, '0'
    LI r12, line_end

next:
    ; Increment the decimal string: the last digit, carrying while a digit was '9'.
    LI r1, newline - 1
inc:
    LDB r2, [r1]
    BNE r2, r10, inc_no_carry
    STB r11, [r1]               ; '9' + 1 = '0', carry one place left
    ADDI r1, r1, -1
    JMP inc
inc_no_carry:
    ADDI r2, r2, 1
    STB r2, [r1]
    BGEU r1, r9, print          ; the carry reached a new leading digit?
    MOV r9, r1

print:
    MOV r1, r9
print_loop:                     ; the digits and the newline
    LDB r2, [r1]
    OUT CON_OUT, r2
    ADDI r1, r1, 1
    BLTU r1, r12, print_loop

    ADDI r7, r7, 1
    BGE r8, r7, next            ; until r7 > LAST
    HALT
