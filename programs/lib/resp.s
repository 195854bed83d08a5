; resp.s — the Redis protocol (RESP2): parse one command from a buffer, write replies to a
; string buffer (strbuf.s), and read integers the way Redis does.
;
; Usage:   .include "resp.s"
; Commands come either as a multibulk array ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or inline
; ("GET k\r\n", words separated by spaces). resp_parse leaves the arguments in resp_argc,
; resp_argv (addresses, pointing into the input buffer) and resp_argl (lengths).
; Convention: as in print.s (arguments r1..r3, result r1, clobbers only what each header
; lists, r7..r14 preserved). Leaves .code current.
.include "strbuf.s"

.const RESP_ARGV_MAX 1024               ; arguments of one command
.const RESP_BULK_MAX 1 << 20            ; the longest bulk string accepted

; resp_parse results below zero: the kind of protocol error (the connection should close).
.const RESP_E_MBULK -1                  ; "invalid multibulk length"
.const RESP_E_BULK -2                   ; "invalid bulk length"
.const RESP_E_DOLLAR -3                 ; "expected '$', got 'X'" (X in resp_bad)

.data
.align 4
resp_argc: .word 0
resp_bad:  .word 0
resp_argv: .zero RESP_ARGV_MAX * 4
resp_argl: .zero RESP_ARGV_MAX * 4
resp_crlf_text: .asciz "\r\n"
resp_ok_text:   .asciz "+OK\r\n"
resp_null_text: .asciz "$-1\r\n"

.code

; resp_parse — parse the first command in [r1, r1 + r2).
;   out: r1 > 0: a whole command of r1 bytes (resp_argc may be 0: nothing to run);
;        r1 = 0: the command is not complete yet; r1 < 0: a RESP_E_ protocol error
;   clobbers: r1 .. r6
resp_parse:
    PUSH r7
    PUSH r8
    PUSH r9
    PUSH r10
    PUSH r11
    MOV r7, r1                          ; r7 = start
    ADD r8, r1, r2                      ; r8 = end
    LI r1, 0
    BEQ r7, r8, resp_parse_out          ; nothing at all yet
    LDB r1, [r7]
    LI r2, '*'
    BNE r1, r2, resp_parse_inline
    ; Multibulk: *N\r\n, then N times $LEN\r\nBYTES\r\n.
    ADDI r1, r7, 1
    MOV r2, r8
    CALL resp_line_int
    BEQZ r1, resp_parse_out             ; incomplete: r1 = 0
    SLTI r4, r1, 0
    BNEZ r4, resp_parse_e_mbulk
    LI r4, RESP_ARGV_MAX
    BLT r4, r2, resp_parse_e_mbulk
    MOV r9, r2                          ; r9 = N
    MOV r10, r3                         ; r10 = cursor
    LI r11, 0                           ; r11 = index
    SLTI r4, r9, 1
    BNEZ r4, resp_parse_done            ; *0 or *-1: an empty command
resp_parse_arg:
    BEQ r11, r9, resp_parse_done
    LI r1, 0
    BGEU r10, r8, resp_parse_out        ; incomplete
    LDB r1, [r10]
    LI r2, '$'
    BNE r1, r2, resp_parse_e_dollar
    ADDI r1, r10, 1
    MOV r2, r8
    CALL resp_line_int
    BEQZ r1, resp_parse_out             ; incomplete
    SLTI r4, r1, 0
    BNEZ r4, resp_parse_e_bulk
    SLTI r4, r2, 0
    BNEZ r4, resp_parse_e_bulk
    LI r4, RESP_BULK_MAX
    BLT r4, r2, resp_parse_e_bulk
    ; The bytes and their \r\n must be here (like Redis, the two bytes are not checked).
    SUB r4, r8, r3
    ADDI r5, r2, 2
    LI r1, 0
    BLTU r4, r5, resp_parse_out         ; incomplete
    SHLI r4, r11, 2
    STW r3, [r4+resp_argv]
    STW r2, [r4+resp_argl]
    ADD r10, r3, r5
    ADDI r11, r11, 1
    JMP resp_parse_arg
resp_parse_done:
    STW r11, [resp_argc]
    SUB r1, r10, r7
    JMP resp_parse_out
resp_parse_e_mbulk:
    LI r1, RESP_E_MBULK
    JMP resp_parse_out
resp_parse_e_bulk:
    LI r1, RESP_E_BULK
    JMP resp_parse_out
resp_parse_e_dollar:
    STW r1, [resp_bad]
    LI r1, RESP_E_DOLLAR
    JMP resp_parse_out

    ; Inline: one line, words separated by spaces (or tabs); a \r before the \n is dropped.
resp_parse_inline:
    MOV r10, r7
resp_parse_find_nl:
    LI r1, 0
    BGEU r10, r8, resp_parse_out        ; no newline yet: incomplete
    LDB r1, [r10]
    LI r2, 10
    BEQ r1, r2, resp_parse_have_line
    ADDI r10, r10, 1
    JMP resp_parse_find_nl
resp_parse_have_line:
    ADDI r9, r10, 1                     ; r9 = after the line
    MOV r5, r10                         ; r5 = end of the words
    BEQ r5, r7, resp_parse_words
    LDB r1, [r5-1]
    LI r2, 13
    BNE r1, r2, resp_parse_words
    ADDI r5, r5, -1
resp_parse_words:
    MOV r10, r7                         ; r10 = cursor
    LI r11, 0                           ; r11 = argc
resp_parse_skip:
    BGEU r10, r5, resp_parse_inline_done
    LDB r1, [r10]
    LI r2, ' '
    BEQ r1, r2, resp_parse_skip_one
    LI r2, 9
    BNE r1, r2, resp_parse_word
resp_parse_skip_one:
    ADDI r10, r10, 1
    JMP resp_parse_skip
resp_parse_word:
    LI r2, RESP_ARGV_MAX
    BEQ r11, r2, resp_parse_e_mbulk
    MOV r6, r10                         ; r6 = word start
resp_parse_word_end:
    BGEU r10, r5, resp_parse_word_done
    LDB r1, [r10]
    LI r2, ' '
    BEQ r1, r2, resp_parse_word_done
    LI r2, 9
    BEQ r1, r2, resp_parse_word_done
    ADDI r10, r10, 1
    JMP resp_parse_word_end
resp_parse_word_done:
    SHLI r4, r11, 2
    STW r6, [r4+resp_argv]
    SUB r1, r10, r6
    STW r1, [r4+resp_argl]
    ADDI r11, r11, 1
    JMP resp_parse_skip
resp_parse_inline_done:
    STW r11, [resp_argc]
    SUB r1, r9, r7
resp_parse_out:
    POP r11
    POP r10
    POP r9
    POP r8
    POP r7
    RET

; resp_line_int — read "[-]DIGITS\r\n" at r1 (not past r2).
;   out: r1 = 1 and r2 = the value and r3 = the address after "\r\n"; r1 = 0 when the line
;        is not complete yet; r1 = -1 when it is malformed (or beyond 9 digits)
;   clobbers: r1 .. r6
resp_line_int:
    LI r3, 0                            ; r3 = magnitude
    LI r4, 0                            ; r4 = 1 when negative
    LI r6, 0                            ; r6 = digits seen
    BGEU r1, r2, resp_line_int_more
    LDB r5, [r1]
    LI r4, '-'
    BNE r5, r4, resp_line_int_pos
    LI r4, 1
    ADDI r1, r1, 1
    JMP resp_line_int_digit
resp_line_int_pos:
    LI r4, 0
resp_line_int_digit:
    BGEU r1, r2, resp_line_int_more
    LDB r5, [r1]
    ADDI r5, r5, -'0'
    SLTIU r5, r5, 10
    BEQZ r5, resp_line_int_end
    LDB r5, [r1]
    ADDI r5, r5, -'0'
    MULI r3, r3, 10
    ADD r3, r3, r5
    ADDI r6, r6, 1
    ADDI r1, r1, 1
    SLTIU r5, r6, 10
    BEQZ r5, resp_line_int_bad          ; 10 digits and more: beyond any length we accept
    JMP resp_line_int_digit
resp_line_int_end:
    BEQZ r6, resp_line_int_bad
    LDB r5, [r1]
    LI r6, 13
    BNE r5, r6, resp_line_int_bad
    ADDI r1, r1, 1
    BGEU r1, r2, resp_line_int_more
    LDB r5, [r1]
    LI r6, 10
    BNE r5, r6, resp_line_int_bad
    ADDI r1, r1, 1
    MOV r5, r3
    BEQZ r4, resp_line_int_ok
    LI r5, 0
    SUB r5, r5, r3
resp_line_int_ok:
    MOV r3, r1
    MOV r2, r5
    LI r1, 1
    RET
resp_line_int_more:
    LI r1, 0
    RET
resp_line_int_bad:
    LI r1, -1
    RET

; resp_str_int — read a whole string as a signed 32-bit integer, the way Redis reads
; numbers: digits with an optional '-', no '+', no spaces, no leading zeros, no "-0".
;   in:  r1 = address, r2 = length
;   out: r1 = the value, r2 = 1 when it is an integer in range, else 0
;   clobbers: r1 .. r6
resp_str_int:
    BEQZ r2, resp_str_int_bad
    ADD r2, r1, r2                      ; r2 = end
    LI r6, 0                            ; r6 = 1 when negative
    LDB r3, [r1]
    LI r4, '-'
    BNE r3, r4, resp_str_int_first
    LI r6, 1
    ADDI r1, r1, 1
    BEQ r1, r2, resp_str_int_bad        ; "-" alone
resp_str_int_first:
    LDB r3, [r1]
    LI r4, '0'
    BNE r3, r4, resp_str_int_digits
    ; A leading zero is only "0" itself.
    ADDI r1, r1, 1
    BNE r1, r2, resp_str_int_bad
    BNEZ r6, resp_str_int_bad           ; "-0"
    LI r1, 0
    LI r2, 1
    RET
resp_str_int_digits:
    LI r3, 0                            ; r3 = magnitude (unsigned)
resp_str_int_loop:
    BEQ r1, r2, resp_str_int_range
    LDB r4, [r1]
    ADDI r4, r4, -'0'
    SLTIU r5, r4, 10
    BEQZ r5, resp_str_int_bad
    LI r5, 214748364
    BLTU r5, r3, resp_str_int_bad       ; r3 * 10 would pass 2^31
    MULI r3, r3, 10
    ADD r3, r3, r4
    ADDI r1, r1, 1
    JMP resp_str_int_loop
resp_str_int_range:
    LI r5, 0x7fffffff
    ADD r5, r5, r6                      ; the limit: 2^31 - 1, or 2^31 when negative
    BLTU r5, r3, resp_str_int_bad
    MOV r1, r3
    BEQZ r6, resp_str_int_ok
    LI r1, 0
    SUB r1, r1, r3
resp_str_int_ok:
    LI r2, 1
    RET
resp_str_int_bad:
    LI r1, 0
    LI r2, 0
    RET

; resp_str_int64 — like resp_str_int, for Redis's own range: signed 64 bits, in two words.
;   in:  r1 = address, r2 = length
;   out: r1 = low word, r2 = high word, r3 = 1 when it is an integer in range, else 0
;   clobbers: r1 .. r6
resp_str_int64:
    BEQZ r2, resp_str_int64_bad
    PUSH r7
    PUSH r8
    PUSH r9
    ADD r9, r1, r2                      ; r9 = end
    LI r8, 0                            ; r8 = 1 when negative
    LDB r3, [r1]
    LI r4, '-'
    BNE r3, r4, resp_str_int64_first
    LI r8, 1
    ADDI r1, r1, 1
    BEQ r1, r9, resp_str_int64_bad_pop ; "-" alone
resp_str_int64_first:
    LDB r3, [r1]
    LI r4, '0'
    BNE r3, r4, resp_str_int64_digits
    ADDI r1, r1, 1                      ; a leading zero is only "0" itself
    BNE r1, r9, resp_str_int64_bad_pop
    BNEZ r8, resp_str_int64_bad_pop     ; "-0"
    LI r5, 0
    LI r6, 0
    JMP resp_str_int64_ok
resp_str_int64_digits:
    LI r5, 0                            ; r6:r5 = magnitude (unsigned, 64 bits)
    LI r6, 0
resp_str_int64_loop:
    BEQ r1, r9, resp_str_int64_range
    LDB r7, [r1]
    ADDI r7, r7, -'0'
    SLTIU r3, r7, 10
    BEQZ r3, resp_str_int64_bad_pop
    ; Above 922337203685477580 (0x0CCCCCCC_CCCCCCCC) another digit passes 2^63 for sure.
    LI r3, 0x0CCCCCCC
    BLTU r3, r6, resp_str_int64_bad_pop
    BNE r3, r6, resp_str_int64_mul
    LI r3, 0xCCCCCCCC
    BLTU r3, r5, resp_str_int64_bad_pop
resp_str_int64_mul:
    ; magnitude * 10 = (magnitude << 3) + (magnitude << 1), then + the digit.
    SHRI r3, r5, 29
    SHLI r4, r6, 3
    OR r4, r4, r3                       ; r4:r3 = magnitude << 3
    SHLI r3, r5, 3
    SHRI r2, r5, 31
    SHLI r6, r6, 1
    OR r6, r6, r2                       ; r6:r5 = magnitude << 1
    SHLI r5, r5, 1
    ADD r5, r5, r3
    SLTU r2, r5, r3                     ; the carry
    ADD r6, r6, r4
    ADD r6, r6, r2
    ADD r5, r5, r7
    SLTU r2, r5, r7
    ADD r6, r6, r2
    ADDI r1, r1, 1
    JMP resp_str_int64_loop
resp_str_int64_range:
    ; Up to 2^63 - 1, or 2^63 when negative.
    LI r3, 0x80000000
    BLTU r6, r3, resp_str_int64_sign
    BEQZ r8, resp_str_int64_bad_pop
    BNE r6, r3, resp_str_int64_bad_pop
    BNEZ r5, resp_str_int64_bad_pop
resp_str_int64_sign:
    BEQZ r8, resp_str_int64_ok
    XORI r5, r5, -1                     ; negate: ~x + 1
    XORI r6, r6, -1
    ADDI r5, r5, 1
    SLTIU r2, r5, 1
    ADD r6, r6, r2
resp_str_int64_ok:
    MOV r1, r5
    MOV r2, r6
    LI r3, 1
    POP r9
    POP r8
    POP r7
    RET
resp_str_int64_bad_pop:
    POP r9
    POP r8
    POP r7
resp_str_int64_bad:
    LI r1, 0
    LI r2, 0
    LI r3, 0
    RET

; ---- replies (r1 = the strbuf they are appended to; r1 is preserved) ----

; resp_ok — "+OK".   clobbers: r2 .. r5
resp_ok:
    LI r2, resp_ok_text
    JMP sb_puts

; resp_null — the null bulk string "$-1".   clobbers: r2 .. r5
resp_null:
    LI r2, resp_null_text
    JMP sb_puts

; resp_simple — "+TEXT".   in: r2 = NUL-terminated text   clobbers: r2 .. r5
resp_simple:
    PUSH r2
    LI r2, '+'
resp_line:
    CALL sb_putc
    POP r2
    CALL sb_puts
    LI r2, resp_crlf_text
    JMP sb_puts

; resp_error — "-TEXT" (the text starts with the error code, as in "ERR syntax error").
;   in: r2 = NUL-terminated text   clobbers: r2 .. r5
resp_error:
    PUSH r2
    LI r2, '-'
    JMP resp_line

; resp_int — ":N".   in: r2 = the value (signed)   clobbers: r2 .. r6
resp_int:
    PUSH r2
    LI r2, ':'
    CALL sb_putc
    POP r2
    CALL sb_putint
    LI r2, resp_crlf_text
    JMP sb_puts

; resp_int64 — ":N" for a 64-bit value.   in: r2 = low word, r3 = high word   clobbers: r2 .. r6
resp_int64:
    PUSH r2
    PUSH r3
    LI r2, ':'
    CALL sb_putc
    POP r3
    POP r2
    CALL sb_putint64
    LI r2, resp_crlf_text
    JMP sb_puts

; resp_bulk — "$LEN\r\nBYTES".   in: r2 = address, r3 = length   clobbers: r2 .. r6
resp_bulk:
    PUSH r2
    PUSH r3
    LI r2, '$'
    CALL sb_putc
    LDW r2, [sp]
    CALL sb_putint
    LI r2, resp_crlf_text
    CALL sb_puts
    POP r3
    POP r2
    CALL sb_putmem
    LI r2, resp_crlf_text
    JMP sb_puts
