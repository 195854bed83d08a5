; checksum.s: the 32-bit FNV-1a hash of a 64 KiB buffer of pseudo-random bytes, K passes
; over the buffer chained into one hash, printed in decimal.
;
; What it shows: a streaming loop over memory (byte loads, XOR, a 32-bit multiply that
; must wrap exactly), plus a fill loop of shifts and XORs (xorshift32) with byte stores.
; tools/bench/lua/checksum.lua is the same algorithm with the same output; `npm run bench`
; times both.
;
;   ftvm run programs/checksum.s   →  fnv1a of 1000 x 65536 bytes: 49468325

.include "printnum.s"          ; print_str, print_uint (programs/lib)

.const SIZE, 65536              ; buffer bytes
.const K, 1000                  ; passes
.const SEED, 2463534242         ; xorshift32 state

.code
main:
    ; buf[i] = low byte of the next xorshift32 value, for 0 <= i < SIZE
    LI r1, 0
    LI r2, SIZE
    LI r3, SEED
fill:
    SHLI r4, r3, 13
    XOR r3, r3, r4
    SHRI r4, r3, 17
    XOR r3, r3, r4
    SHLI r4, r3, 5
    XOR r3, r3, r4
    STB r3, [r1 + buf]
    ADDI r1, r1, 1
    BLT r1, r2, fill

    ; h = FNV offset basis; K times: for each byte b: h = (h ^ b) * FNV prime (mod 2^32)
    LI r5, 0x811c9dc5
    LI r10, K
pass:
    LI r1, 0
hash:
    LDB r4, [r1 + buf]
    XOR r5, r5, r4
    MULI r5, r5, 16777619
    ADDI r1, r1, 1
    BLT r1, r2, hash
    ADDI r10, r10, -1
    BNEZ r10, pass

    ; "fnv1a of K x SIZE bytes: H\n" (the library clobbers r1..r5: keep the hash in r9)
    MOV r9, r5
    LI r1, msg_of
    CALL print_str
    LI r1, K
    CALL print_uint
    LI r1, msg_x
    CALL print_str
    LI r1, SIZE
    CALL print_uint
    LI r1, msg_bytes
    CALL print_str
    MOV r1, r9
    CALL print_uint
    LI r1, msg_nl
    CALL print_str
    HALT

.data
msg_of:     .asciz "fnv1a of "
msg_x:      .asciz " x "
msg_bytes:  .asciz " bytes: "
msg_nl:     .asciz "\n"
.align 4
buf:                            ; SIZE bytes from here on (beyond the image)
