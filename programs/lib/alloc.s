; alloc.s — a small memory allocator for a heap region: power-of-two size classes, one
; free list per class, blocks carved from the top of the free region when a list is empty.
; Freed blocks go back to their class's list (they are never split or merged), so a
; program that keeps reusing sizes of the same order of magnitude does not fragment.
;
; Usage:   .include "alloc.s"   then   CALL alloc_init  with the heap's bounds.
; Convention: as in print.s (arguments r1.., result r1, clobbers only what each header
; lists, r7..r14 preserved). Leaves .code current.
;
; A block of class c is 32 << c bytes: an 8-byte header (word 0: c) and the usable bytes.

.const ALLOC_CLASSES 13                 ; 32 bytes .. 128 KiB
.const ALLOC_HEADER 8
.const ALLOC_MIN_SHIFT 5                ; class 0 blocks are 1 << 5 = 32 bytes

.data
.align 4
alloc_next:  .word 0                    ; first never-used heap byte
alloc_end:   .word 0                    ; end of the heap (exclusive)
alloc_used:  .word 0                    ; bytes in blocks handed out (headers included)
alloc_free:  .zero ALLOC_CLASSES * 4    ; free list head per class (0: empty)

.code

; alloc_init — make [r1, r2) the heap; forgets every earlier block.
;   in:  r1 = start (rounded up to 8 here), r2 = end
;   clobbers: r1, r3
alloc_init:
    ADDI r1, r1, 7
    ANDI r1, r1, -8
    STW r1, [alloc_next]
    STW r2, [alloc_end]
    LI r1, 0
    STW r1, [alloc_used]
    LI r3, 0
alloc_init_lists:
    STW r1, [r3+alloc_free]
    ADDI r3, r3, 4
    SLTIU r1, r3, ALLOC_CLASSES * 4
    BEQZ r1, alloc_init_done
    LI r1, 0
    JMP alloc_init_lists
alloc_init_done:
    RET

; alloc — a block with at least r1 usable bytes.
;   in:  r1 = bytes wanted (unsigned)
;   out: r1 = address of the usable bytes (a multiple of 8), or 0 when the heap is exhausted
;        or the size is above the largest class
;   clobbers: r1, r2, r3, r4
alloc:
    ADDI r1, r1, ALLOC_HEADER           ; block bytes needed
    LI r2, 0                            ; r2 = class
    LI r3, 1 << ALLOC_MIN_SHIFT         ; r3 = its block size
alloc_class:
    BGEU r3, r1, alloc_have_class
    ADDI r2, r2, 1
    SHLI r3, r3, 1
    SLTIU r4, r2, ALLOC_CLASSES
    BNEZ r4, alloc_class
    LI r1, 0                            ; too big for any class
    RET
alloc_have_class:
    SHLI r4, r2, 2
    LDW r1, [r4+alloc_free]
    BEQZ r1, alloc_carve
    LDW r4, [r1+4]                      ; a free block keeps the next free one in word 1
    SHLI r2, r2, 2
    STW r4, [r2+alloc_free]
    SHRI r2, r2, 2
    JMP alloc_take
alloc_carve:
    LDW r1, [alloc_next]
    LDW r4, [alloc_end]
    SUB r4, r4, r1
    BLTU r4, r3, alloc_none
    ADD r4, r1, r3
    STW r4, [alloc_next]
alloc_take:
    STW r2, [r1]                        ; header: the class
    LDW r4, [alloc_used]
    ADD r4, r4, r3
    STW r4, [alloc_used]
    ADDI r1, r1, ALLOC_HEADER
    RET
alloc_none:
    LI r1, 0
    RET

; free — give a block back (r1 as alloc returned it; 0 is ignored).
;   clobbers: r1, r2, r3
free:
    BEQZ r1, free_done
    ADDI r1, r1, -ALLOC_HEADER
    LDW r2, [r1]                        ; class
    SHLI r3, r2, 2
    LDW r3, [r3+alloc_free]
    STW r3, [r1+4]
    SHLI r3, r2, 2
    STW r1, [r3+alloc_free]
    LI r3, 1 << ALLOC_MIN_SHIFT
    SHL r3, r3, r2
    LDW r2, [alloc_used]
    SUB r2, r2, r3
    STW r2, [alloc_used]
free_done:
    RET

; alloc_usable — usable bytes of a block.
;   in:  r1 = a block from alloc
;   out: r1 = its usable bytes
;   clobbers: r1, r2
alloc_usable:
    LDW r2, [r1-ALLOC_HEADER]
    LI r1, 1 << ALLOC_MIN_SHIFT
    SHL r1, r1, r2
    ADDI r1, r1, -ALLOC_HEADER
    RET
