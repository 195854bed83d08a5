; hello.s — the smallest complete program: print a greeting with the library's print_str.
;
; Shows: .include of programs/lib, a NUL-terminated string in .data, CALL/RET, HALT.
; Run:   node --import tsx src/cli/main.ts run programs/hello.s
; Expected output (exit status 0):
;   hello, world
.include "print.s"

.data
greeting: .asciz "hello, world\n"

.code
main:
    LI r1, greeting
    CALL print_str
    HALT
