; mem.s — memory block routines on data memory: memcpy, memset, strlen.
;
; Usage:   .include "mem.s"
; Convention: as in print.s — arguments in r1, r2, r3, result in r1, clobbers only what each
; header lists (a subset of r1..r6), preserves r0 and r7..r14. Code only; leaves .code current.
; The copy and fill loops move whole words once the destination is word-aligned (and, for
; memcpy, the source too), and single bytes otherwise.
.code

; memcpy — copy r3 bytes from r2 to r1, front to back. The areas should not overlap
; (copying to a lower address within the same area, dst < src, is safe).
;   in:  r1 = destination address, r2 = source address, r3 = byte count (unsigned)
;   out: r1 = destination address (unchanged)
;   clobbers: r2, r3, r4, r5
memcpy:
    MOV r4, r1                  ; r4 = destination cursor
memcpy_head:                    ; bytes until the destination is word-aligned
    BEQZ r3, memcpy_done
    ANDI r5, r4, 3
    BEQZ r5, memcpy_aligned
    LDB r5, [r2]
    STB r5, [r4]
    ADDI r2, r2, 1
    ADDI r4, r4, 1
    ADDI r3, r3, -1
    JMP memcpy_head
memcpy_aligned:
    ANDI r5, r2, 3
    BNEZ r5, memcpy_tail        ; source not aligned with it: bytes all the way
memcpy_words:
    SLTIU r5, r3, 4
    BNEZ r5, memcpy_tail
    LDW r5, [r2]
    STW r5, [r4]
    ADDI r2, r2, 4
    ADDI r4, r4, 4
    ADDI r3, r3, -4
    JMP memcpy_words
memcpy_tail:
    BEQZ r3, memcpy_done
    LDB r5, [r2]
    STB r5, [r4]
    ADDI r2, r2, 1
    ADDI r4, r4, 1
    ADDI r3, r3, -1
    JMP memcpy_tail
memcpy_done:
    RET

; memset — fill r3 bytes at r1 with the byte r2.
;   in:  r1 = destination address, r2 = the byte (low 8 bits used), r3 = byte count (unsigned)
;   out: r1 = destination address (unchanged)
;   clobbers: r2, r3, r4, r5
memset:
    MOV r4, r1                  ; r4 = destination cursor
    ANDI r2, r2, 255
memset_head:                    ; bytes until the destination is word-aligned
    BEQZ r3, memset_done
    ANDI r5, r4, 3
    BEQZ r5, memset_aligned
    STB r2, [r4]
    ADDI r4, r4, 1
    ADDI r3, r3, -1
    JMP memset_head
memset_aligned:
    MULI r5, r2, 0x01010101     ; the byte in all four lanes
memset_words:
    SLTIU r2, r3, 4
    BNEZ r2, memset_tail
    STW r5, [r4]
    ADDI r4, r4, 4
    ADDI r3, r3, -4
    JMP memset_words
memset_tail:
    BEQZ r3, memset_done
    STB r5, [r4]                ; low 8 bits of r5 are the byte
    ADDI r4, r4, 1
    ADDI r3, r3, -1
    JMP memset_tail
memset_done:
    RET

; strlen — length of a NUL-terminated string (the NUL not counted).
;   in:  r1 = address of the string
;   out: r1 = its length in bytes
;   clobbers: r1, r2, r3
strlen:
    MOV r2, r1                  ; r2 = cursor
strlen_loop:
    LDB r3, [r2]
    BEQZ r3, strlen_done
    ADDI r2, r2, 1
    JMP strlen_loop
strlen_done:
    SUB r1, r2, r1
    RET
