; strbuf.s — string buffers: a length, a capacity and the bytes, appended to piece by
; piece (bytes, strings, decimal numbers). An append that does not fit is cut at the
; capacity, so a full buffer never writes past its end; callers that must not lose bytes
; check sb_room first.
;
; Usage:   .include "strbuf.s"
; A buffer at B:  [B+0] length   [B+4] capacity   [B+8 ..] the bytes.
; Declare one with   name: .word 0, CAP   followed by   .zero CAP   (see SB_DATA).
; Convention: as in print.s (arguments r1..r3, result r1, clobbers only what each header
; lists, r7..r14 preserved). Leaves .code current.
.include "mem.s"

.const SB_LEN 0
.const SB_CAP 4
.const SB_DATA 8

.code

; sb_reset — empty the buffer.
;   in:  r1 = buffer
;   clobbers: r2
sb_reset:
    LI r2, 0
    STW r2, [r1+SB_LEN]
    RET

; sb_room — bytes that still fit.
;   in:  r1 = buffer
;   out: r1 = capacity - length
;   clobbers: r1, r2
sb_room:
    LDW r2, [r1+SB_CAP]
    LDW r1, [r1+SB_LEN]
    SUB r1, r2, r1
    RET

; sb_putc — append one byte.
;   in:  r1 = buffer, r2 = the byte
;   clobbers: r3, r4
sb_putc:
    LDW r3, [r1+SB_LEN]
    LDW r4, [r1+SB_CAP]
    BGEU r3, r4, sb_putc_full
    ADD r4, r1, r3
    STB r2, [r4+SB_DATA]
    ADDI r3, r3, 1
    STW r3, [r1+SB_LEN]
sb_putc_full:
    RET

; sb_putmem — append r3 bytes from r2.
;   in:  r1 = buffer, r2 = address, r3 = length
;   clobbers: r2, r3, r4, r5, r6
sb_putmem:
    LDW r4, [r1+SB_LEN]
    LDW r5, [r1+SB_CAP]
    SUB r5, r5, r4                      ; room
    BGEU r5, r3, sb_putmem_fits
    MOV r3, r5                          ; cut at the capacity
sb_putmem_fits:
    ADD r6, r4, r3
    STW r6, [r1+SB_LEN]                 ; the new length
    PUSH r1
    ADD r1, r1, r4
    ADDI r1, r1, SB_DATA
    CALL memcpy
    POP r1
    RET

; sb_puts — append a NUL-terminated string (without the NUL).
;   in:  r1 = buffer, r2 = address of the string
;   clobbers: r2, r3, r4, r5
sb_puts:
    LDB r5, [r2]
    BEQZ r5, sb_puts_done
    PUSH r2
    MOV r2, r5
    CALL sb_putc
    POP r2
    ADDI r2, r2, 1
    JMP sb_puts
sb_puts_done:
    RET

; sb_putint — append a signed decimal number.
;   in:  r1 = buffer, r2 = the value (signed 32 bits)
;   clobbers: r2, r3, r4, r5, r6
; The digits are produced last-first into 12 bytes on the stack.
sb_putint:
    SLTI r3, r2, 0
    BEQZ r3, sb_putint_abs
    PUSH r2
    LI r2, '-'
    CALL sb_putc
    POP r2
    LI r3, 0
    SUB r2, r3, r2                      ; -(-2147483648) wraps to 2^31, printed unsigned below
sb_putint_abs:
    ADDI sp, sp, -12
    ADDI r5, sp, 12                     ; r5 = end of the digits
    MOV r6, r5                          ; r6 = first digit so far
    LI r4, 10
sb_putint_digit:
    REMU r3, r2, r4
    DIVU r2, r2, r4
    ADDI r3, r3, '0'
    ADDI r6, r6, -1
    STB r3, [r6]
    BNEZ r2, sb_putint_digit
sb_putint_out:
    LDB r2, [r6]
    CALL sb_putc
    ADDI r6, r6, 1
    BLTU r6, r5, sb_putint_out
    ADDI sp, sp, 12
    RET

; sb_putint64 — append a signed 64-bit decimal number.
;   in:  r1 = buffer, r2 = low word, r3 = high word
;   clobbers: r2, r3, r4, r5, r6
; Each digit divides the 64-bit value by 10 with 32-bit divisions: the high word first,
; then the low word in two 16-bit halves, each carrying the remainder before it.
sb_putint64:
    SLTI r4, r3, 0
    BEQZ r4, sb_putint64_abs
    PUSH r2
    PUSH r3
    LI r2, '-'
    CALL sb_putc
    POP r3
    POP r2
    XORI r2, r2, -1                     ; negate: ~x + 1 (-2^63 stays 2^63 unsigned, as wanted)
    XORI r3, r3, -1
    ADDI r2, r2, 1
    SLTIU r4, r2, 1
    ADD r3, r3, r4
sb_putint64_abs:
    PUSH r7
    PUSH r8
    ADDI sp, sp, -24
    ADDI r7, sp, 24                     ; r7 = end of the digits
    MOV r8, r7                          ; r8 = first digit so far
sb_putint64_digit:
    LI r4, 10
    REMU r6, r3, r4
    DIVU r3, r3, r4                     ; high word / 10, remainder in r6
    SHLI r6, r6, 16
    SHRI r5, r2, 16
    OR r5, r5, r6
    REMU r6, r5, r4
    DIVU r5, r5, r4                     ; upper half of the low word / 10
    SHLI r6, r6, 16
    ANDI r4, r2, 0xffff
    OR r6, r6, r4
    LI r4, 10
    DIVU r2, r6, r4                     ; lower half / 10
    REMU r6, r6, r4                     ; r6 = the digit
    SHLI r5, r5, 16
    OR r2, r2, r5                       ; r3:r2 = the quotient
    ADDI r6, r6, '0'
    ADDI r8, r8, -1
    STB r6, [r8]
    OR r4, r2, r3
    BNEZ r4, sb_putint64_digit
sb_putint64_out:
    LDB r2, [r8]
    CALL sb_putc
    ADDI r8, r8, 1
    BLTU r8, r7, sb_putint64_out
    ADDI sp, sp, 24
    POP r8
    POP r7
    RET
