; fib.s: naive recursive Fibonacci, fib(n) = fib(n-1) + fib(n-2), and prints fib(N).
;
; What it shows: call-heavy code. Millions of CALL/RET pairs with PUSH/POP on the stack
; (each one checked against the stack region, each push marking its page dirty) and
; returns through an address held in memory. tools/bench/lua/fib.lua is the same
; algorithm with the same output; `npm run bench` times both.
;
;   ftvm run programs/fib.s        →  fib(35) = 9227465

.const N, 35

.code
main:
    LI r1, N
    CALL fib
    MOV r9, r1
    LI r1, msg_fib
    CALL print_str
    LI r1, N
    CALL print_u32
    LI r1, msg_eq
    CALL print_str
    MOV r1, r9
    CALL print_u32
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

; print_str: writes the zero-terminated string at r1 to the console. Clobbers r1, r2.
print_str:
    LDB r2, [r1]
    BEQZ r2, ps_done
    OUT CON_OUT, r2
    ADDI r1, r1, 1
    JMP print_str
ps_done:
    RET

; print_u32: writes r1 as an unsigned decimal number. Clobbers r1 - r4.
print_u32:
    LI r3, digits_end           ; digits are produced last first, stored backwards
    LI r4, 10
pu_digit:
    REMU r2, r1, r4
    ADDI r2, r2, '0'
    ADDI r3, r3, -1
    STB r2, [r3]
    DIVU r1, r1, r4
    BNEZ r1, pu_digit
    MOV r1, r3
    JMP print_str               ; digits_end holds the terminating 0

.data
msg_fib:    .asciz "fib("
msg_eq:     .asciz ") = "
msg_nl:     .asciz "\n"
digits:     .zero 10
digits_end: .byte 0
