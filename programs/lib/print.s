; print.s — console output primitives (text to CON_OUT).
;
; Usage:   .include "print.s"      (searched next to your file, then in programs/lib)
;
; Calling convention of every routine in programs/lib:
;   - call with CALL; arguments in r1, r2, r3; the result (if any) in r1;
;   - a routine clobbers only the registers its header lists (always a subset of r1..r6);
;   - r0 and r7..r14 are preserved; sp (r15) is back where it was on return.
; The routines use only the stack (no static data), so they may also be called from an
; interrupt handler, provided the handler saves r1..r6 first.
;
; Section: this file holds code only and leaves the assembler in the .code section, so
; include it where .code is current (e.g. at the top of a program, before any .data).
.code

; print_char — write one byte to the console.
;   in:  r1 = the byte (only the low 8 bits are written)
;   out: nothing
;   clobbers: nothing
print_char:
    OUT CON_OUT, r1
    RET

; print_newline — write "\n".
;   in:  nothing
;   out: nothing
;   clobbers: r1
print_newline:
    LI r1, 10
    OUT CON_OUT, r1
    RET

; print_str — write a NUL-terminated string (the NUL is not written).
;   in:  r1 = address of the string in data memory
;   out: r1 = address of its terminating NUL
;   clobbers: r1, r2
print_str:
    LDB r2, [r1]
    BEQZ r2, print_str_done
    OUT CON_OUT, r2
    ADDI r1, r1, 1
    JMP print_str
print_str_done:
    RET
