; fib.s: naive recursive Fibonacci, fib(n) = fib(n-1) + fib(n-2), and prints fib(N).
;
; What it shows: call-heavy code. Millions of CALL/RET pairs with PUSH/POP on the stack
; (each one checked against the stack region, each push marking its page dirty) and
; returns through an address held in memory. tools/bench/lua/fib.lua is the same
; algorithm with the same output; `npm run bench` times both.
;
;   ftvm run programs/fib.s        →  fib(35) = 9227465

.include "printnum.s"          ; print_str, print_uint (programs/lib)

.const N, 35

.code
main:
    LI r1, N
    CALL fib
    MOV r9, r1
    LI r1, msg_fib
    CALL print_str
    LI r1, N
    CALL print_uint
    LI r1, msg_eq
    CALL print_str
    MOV r1, r9
    CALL print_uint
    LI r1, msg_nl
    CALL print_str
    HALT

; fib: r1 = fib(r1) for r1 >= 0. Clobbers r2.
fib:
    SLTI r2, r1, 2
    BNEZ r2, fib_done           ; fib(0) = 0, fib(1) = 1
    PUSH r1                     ; save n
    ADDI r1, r1, -1
    CALL fib                    ; r1 = fib(n-1)
    POP r2                      ; r2 = n
    PUSH r1                     ; save fib(n-1)
    ADDI r1, r2, -2
    CALL fib                    ; r1 = fib(n-2)
    POP r2
    ADD r1, r1, r2
fib_done:
    RET

.data
msg_fib:    .asciz "fib("
msg_eq:     .asciz ") = "
msg_nl:     .asciz "\n"
