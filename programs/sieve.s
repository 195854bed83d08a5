; sieve.s: the sieve of Eratosthenes. Finds the primes below N, K times over, and prints
; how many there are and the largest one.
;
; What it shows: array-crunching code. Tight byte-store loops (every STB also marks its
; memory page dirty, for digests and snapshots), byte loads, data-dependent branches and
; nested loops. tools/bench/lua/sieve.lua is the same algorithm with the same output;
; `npm run bench` times both.
;
;   ftvm run programs/sieve.s      →  primes below 800000: 63951, largest 799999
;
; The flags (one byte per number, 1 = still a prime candidate) live right after the data
; section, in memory the image does not have to carry.

.include "printnum.s"          ; print_str, print_uint (programs/lib)

.const N, 800000                ; sieve numbers 0 .. N-1 (N bytes of flags must fit below the stack)
.const K, 30                    ; repetitions

.code
main:
    LI r10, K                   ; r10: repetitions left
    LI r2, N                    ; r2: N, throughout
rep:
    ; flags[i] = 1 for 2 <= i < N
    LI r1, 2
    LI r3, 1
init:
    STB r3, [r1 + flags]
    ADDI r1, r1, 1
    BLT r1, r2, init

    ; for p = 2 while p*p < N: if flags[p], clear p*p, p*p + p, ... below N
    LI r1, 2
    LI r6, 0
outer:
    MUL r4, r1, r1
    BGE r4, r2, count
    LDB r5, [r1 + flags]
    BEQZ r5, next
mark:
    STB r6, [r4 + flags]
    ADD r4, r4, r1
    BLT r4, r2, mark
next:
    ADDI r1, r1, 1
    JMP outer

    ; count what is left, remembering the largest
count:
    LI r1, 2
    LI r7, 0                    ; r7: primes found
    LI r8, 0                    ; r8: largest prime
cloop:
    LDB r5, [r1 + flags]
    BEQZ r5, cnext
    ADDI r7, r7, 1
    MOV r8, r1
cnext:
    ADDI r1, r1, 1
    BLT r1, r2, cloop

    ADDI r10, r10, -1
    BNEZ r10, rep

    ; "primes below N: COUNT, largest LARGEST\n"
    LI r1, msg_below
    CALL print_str
    LI r1, N
    CALL print_uint
    LI r1, msg_colon
    CALL print_str
    MOV r1, r7
    CALL print_uint
    LI r1, msg_largest
    CALL print_str
    MOV r1, r8
    CALL print_uint
    LI r1, msg_nl
    CALL print_str
    HALT

.data
msg_below:   .asciz "primes below "
msg_colon:   .asciz ": "
msg_largest: .asciz ", largest "
msg_nl:      .asciz "\n"
.align 4
flags:                          ; N bytes from here on (beyond the image)
