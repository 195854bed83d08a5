; disk.s — disk request helpers and the block checksum (see the disk section of isa/README.md).
;
; Usage:   .include "disk.s"
; Convention: as in print.s — arguments in r1.., result in r1, clobbers only what each header
; lists (a subset of r1..r6), preserves r0 and r7..r14. Code only; leaves .code current.
.code

; disk_start — describe a request in the DISK_* registers and start it.
;   in:  r1 = DISK_READ or DISK_WRITE, r2 = first block, r3 = block count,
;        r4 = memory address (a multiple of 4), r5 = tag (reported again in DISK_DONE_TAG)
;   out: r1 = the slot (0..7), or a negative DISK_E_* status (nothing started)
;   clobbers: r1
; The parameter registers are shared: if an interrupt handler also starts requests, call
; this with interrupts disabled. A write's bytes are copied when it starts, so the buffer
; may be reused at once; a read's bytes land only when its completion is delivered.
disk_start:
    OUT DISK_OP, r1
    OUT DISK_BLOCK, r2
    OUT DISK_COUNT, r3
    OUT DISK_ADDR, r4
    OUT DISK_TAG, r5
    IN r1, DISK_START
    RET

; disk_cksum — FNV-1a over 32-bit words: h = 2166136261; for each word h = (h ^ w) * 16777619.
; `ftvm disk check` computes the same function.
;   in:  r1 = address (a multiple of 4), r2 = number of words
;   out: r1 = the checksum
;   clobbers: r1, r2, r3, r4
disk_cksum:
    LI r3, 0x811C9DC5
disk_cksum_loop:
    BEQZ r2, disk_cksum_done
    LDW r4, [r1]
    XOR r3, r3, r4
    MULI r3, r3, 0x01000193
    ADDI r1, r1, 4
    ADDI r2, r2, -1
    JMP disk_cksum_loop
disk_cksum_done:
    MOV r1, r3
    RET
