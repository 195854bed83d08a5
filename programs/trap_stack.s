; trap_stack.s — a guest fault: unbounded recursion overflows the stack.
;
; Shows: CALL pushes the return address below sp; the stack is the top 64 KiB of data
; memory, and a push below it traps (stack-overflow) instead of corrupting data.
; Run:   node --import tsx src/cli/main.ts run programs/trap_stack.s
; Expected output: nothing on stdout; on stderr a stack-overflow trap report (at the CALL
; in `recurse`, after 16384 nested calls); exit status 1.
.code
main:
    LI r1, 0
recurse:
    ADDI r1, r1, 1              ; call depth
    CALL recurse                ; never returns: each call pushes 4 bytes
    HALT
