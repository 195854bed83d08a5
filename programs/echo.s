; echo.s — console echo with interrupt-driven input, upper-casing what it echoes.
;
; Shows: CON_CTRL bit 0 (raise VEC_CONSOLE when input arrives), an input handler that moves
; every buffered byte (CON_IN until it returns -1) into a ring buffer, a main loop that
; drains the ring and sleeps with WFI when it is empty, and end of input (CON_STATUS = -1).
; Console input events are logged with the exact instruction count at which they were
; delivered, so `ftvm replay` reproduces the run even though input timing is arbitrary.
; Run:   printf 'abc\n' | node --import tsx src/cli/main.ts run programs/echo.s
;        (or interactively: type lines, end with Ctrl-D)
; Expected output (exit status 0):
;   ABC
;
; The ring buffer: `ring_head` counts bytes written (only the handler writes it), `ring_tail`
; counts bytes read (only the main loop writes it); head - tail is the fill level. With one
; writer per index no locking is needed, except around the decision to sleep: see the
; race note in clock.s (check with interrupts disabled, then "EI; WFI", which is atomic).
.const RING_SIZE 8192           ; a power of two
.const RING_MASK RING_SIZE - 1

.data
ring_head: .word 0
ring_tail: .word 0
ring:      .zero RING_SIZE

.code
main:
    SETVEC VEC_CONSOLE, on_input
    LI r1, 1
    OUT CON_CTRL, r1            ; interrupt on input
    EI

echo_loop:
    LDW r1, [ring_head]
    LDW r2, [ring_tail]
    BEQ r1, r2, echo_empty
    ANDI r3, r2, RING_MASK
    LDB r1, [r3+ring]
    ADDI r2, r2, 1
    STW r2, [ring_tail]
    ADDI r3, r1, -'a'           ; 'a'..'z' -> 'A'..'Z'
    SLTIU r3, r3, 26
    BEQZ r3, echo_out
    ADDI r1, r1, 'A' - 'a'
echo_out:
    OUT CON_OUT, r1
    JMP echo_loop

echo_empty:
    DI                          ; decide to sleep with no interrupt in between
    LDW r1, [ring_head]
    LDW r2, [ring_tail]
    BNE r1, r2, echo_resume     ; the handler ran since we looked
    IN r3, CON_STATUS
    LI r4, -1
    BEQ r3, r4, echo_eof        ; input ended and everything was echoed
    BEQZ r3, echo_sleep
    CALL fill_ring              ; bytes left behind when the ring was full
echo_resume:
    EI
    JMP echo_loop
echo_sleep:
    EI
echo_wfi:
    WFI
    JMP echo_loop
echo_eof:
    HALT

; VEC_CONSOLE handler: move the buffered input into the ring.
on_input:
    PUSH r1
    PUSH r2
    PUSH r3
    PUSH r4
    CALL fill_ring
    POP r4
    POP r3
    POP r2
    POP r1
    IRET

; fill_ring — read console bytes into the ring until none is buffered or the ring is full.
; Call with interrupts disabled. Clobbers r1..r4.
fill_ring:
    LDW r2, [ring_head]
    LDW r3, [ring_tail]
    LI r4, -1
fill_ring_next:
    SUB r1, r2, r3
    SLTIU r1, r1, RING_SIZE
    BEQZ r1, fill_ring_done     ; full: the rest waits in the console's own buffer
    IN r1, CON_IN
    BEQ r1, r4, fill_ring_done  ; -1: nothing more buffered
    ANDI r3, r2, RING_MASK
    STB r1, [r3+ring]
    LDW r3, [ring_tail]
    ADDI r2, r2, 1
    JMP fill_ring_next
fill_ring_done:
    STW r2, [ring_head]
    RET
