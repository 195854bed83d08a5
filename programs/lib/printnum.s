; printnum.s — print 32-bit numbers on the console: unsigned decimal, signed decimal, hex.
;
; Usage:   .include "printnum.s"    (it includes print.s itself; including both is fine,
;                                    the assembler reads each file once)
; Convention: as in print.s — argument in r1, clobbers only what each header lists
; (a subset of r1..r6), preserves r0 and r7..r14. Code only; leaves .code current.
.include "print.s"
.code

; print_uint — write r1 as an unsigned decimal number (0 .. 4294967295), no padding.
;   in:  r1 = the value (read as unsigned)
;   out: nothing
;   clobbers: r1, r2, r3, r4, r5
; The digits are produced last-first into a 12-byte buffer on the stack.
print_uint:
    ADDI sp, sp, -12
    ADDI r2, sp, 12             ; r2 = end of the buffer
    MOV r3, r2                  ; r3 = first digit written so far
    LI r4, 10
print_uint_digit:
    REMU r5, r1, r4
    DIVU r1, r1, r4
    ADDI r5, r5, '0'
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

; print_int — write r1 as a signed decimal number (-2147483648 .. 2147483647).
;   in:  r1 = the value (read as signed)
;   out: nothing
;   clobbers: r1, r2, r3, r4, r5
print_int:
    SLTI r2, r1, 0
    BEQZ r2, print_uint         ; not negative: print it as it is (tail call)
    MOV r2, r1
    LI r1, '-'
    OUT CON_OUT, r1
    LI r1, 0
    SUB r1, r1, r2              ; -r1; -(-2147483648) wraps to 2147483648 unsigned, as wanted
    JMP print_uint              ; tail call

; print_hex — write r1 as exactly 8 lower-case hex digits, no "0x" prefix (7 -> 00000007).
;   in:  r1 = the value
;   out: nothing
;   clobbers: r1, r2, r3, r4
print_hex:
    MOV r2, r1
    LI r3, 28                   ; shift of the next nibble, 28 down to 0
print_hex_digit:
    SHR r1, r2, r3
    ANDI r1, r1, 15
    SLTIU r4, r1, 10
    BNEZ r4, print_hex_decimal
    ADDI r1, r1, 'a' - 10 - '0'
print_hex_decimal:
    ADDI r1, r1, '0'
    OUT CON_OUT, r1
    ADDI r3, r3, -4
    SLTI r4, r3, 0
    BEQZ r4, print_hex_digit
    RET
