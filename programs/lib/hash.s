; hash.s — a string hash and a hash table of byte-string keys and values (chained
; buckets, entries from alloc.s). Keys and values are any bytes, given as address + length.
;
; Usage:   .include "hash.s"   then   CALL table_init  with a zeroed bucket array.
; Convention: as in print.s (arguments r1..r4, result r1, clobbers only what each header
; lists, r7..r14 preserved). Leaves .code current.
;
; An entry:  [+0] next entry in the bucket (0: last)   [+4] hash   [+8] key length
;            [+12] value length   [+16] the key's bytes, then the value's bytes.
.include "alloc.s"
.include "mem.s"

.const E_NEXT 0
.const E_HASH 4
.const E_KLEN 8
.const E_VLEN 12
.const E_DATA 16

.data
.align 4
table_buckets: .word 0                  ; address of the bucket array (one word per bucket)
table_mask:    .word 0                  ; bucket count - 1 (the count is a power of two)
table_count:   .word 0                  ; entries in the table

.code

; hash_bytes — FNV-1a, 32 bits.
;   in:  r1 = address, r2 = length
;   out: r1 = the hash
;   clobbers: r1, r2, r3, r4
hash_bytes:
    ADD r2, r1, r2                      ; r2 = end
    LI r3, 0x811c9dc5
hash_bytes_loop:
    BGEU r1, r2, hash_bytes_done
    LDB r4, [r1]
    XOR r3, r3, r4
    MULI r3, r3, 0x01000193
    ADDI r1, r1, 1
    JMP hash_bytes_loop
hash_bytes_done:
    MOV r1, r3
    RET

; table_init — use r2 buckets at r1 (already zeroed; r2 a power of two); the table is empty.
;   clobbers: r2
table_init:
    STW r1, [table_buckets]
    ADDI r2, r2, -1
    STW r2, [table_mask]
    LI r2, 0
    STW r2, [table_count]
    RET

; table_find — look a key up.
;   in:  r1 = key address, r2 = key length
;   out: r1 = the entry, or 0 when absent; r2 = address of the word that points to it
;        (the bucket, or the previous entry's next), or of the bucket when absent
;   clobbers: r1 .. r6
table_find:
    PUSH r7
    PUSH r8
    PUSH r9
    MOV r7, r1                          ; r7 = key
    MOV r8, r2                          ; r8 = key length
    CALL hash_bytes
    MOV r9, r1                          ; r9 = hash
    LDW r2, [table_mask]
    AND r2, r1, r2
    SHLI r2, r2, 2
    LDW r3, [table_buckets]
    ADD r2, r2, r3                      ; r2 = the bucket's address
    MOV r6, r2                          ; r6 = link to the current entry
table_find_next:
    LDW r1, [r6]
    BEQZ r1, table_find_absent
    LDW r3, [r1+E_HASH]
    BNE r3, r9, table_find_skip
    LDW r3, [r1+E_KLEN]
    BNE r3, r8, table_find_skip
    ; Same hash and length: compare the bytes.
    ADDI r3, r1, E_DATA
    MOV r4, r7
    ADD r5, r7, r8                      ; r5 = end of the key
table_find_cmp:
    BGEU r4, r5, table_find_hit
    LDB r2, [r3]
    PUSH r1
    LDB r1, [r4]
    BNE r1, r2, table_find_cmp_no
    POP r1
    ADDI r3, r3, 1
    ADDI r4, r4, 1
    JMP table_find_cmp
table_find_cmp_no:
    POP r1
table_find_skip:
    ADDI r6, r1, E_NEXT
    JMP table_find_next
table_find_hit:
    MOV r2, r6
    JMP table_find_out
table_find_absent:
    LDW r2, [table_mask]
    AND r2, r9, r2
    SHLI r2, r2, 2
    LDW r3, [table_buckets]
    ADD r2, r2, r3
    LI r1, 0
table_find_out:
    POP r9
    POP r8
    POP r7
    RET

; table_value — where an entry's value is.
;   in:  r1 = entry
;   out: r1 = value address, r2 = value length
;   clobbers: r1, r2
table_value:
    LDW r2, [r1+E_VLEN]
    PUSH r2
    LDW r2, [r1+E_KLEN]
    ADD r1, r1, r2
    ADDI r1, r1, E_DATA
    POP r2
    RET

; table_put — set key to value (insert, or replace the value).
;   in:  r1 = key address, r2 = key length, r3 = value address, r4 = value length
;   out: r1 = 1, or 0 when memory ran out (the table is unchanged then)
;   clobbers: r1 .. r6
table_put:
    PUSH r7
    PUSH r8
    PUSH r9
    PUSH r10
    PUSH r11
    PUSH r12
    MOV r7, r1                          ; key
    MOV r8, r2                          ; key length
    MOV r9, r3                          ; value
    MOV r10, r4                         ; value length
    CALL table_find
    MOV r11, r1                         ; r11 = old entry or 0
    MOV r12, r2                         ; r12 = link to it (or the bucket)
    BEQZ r11, table_put_new
    ; An entry exists: overwrite in place when the new value fits its block.
    MOV r1, r11
    CALL alloc_usable
    ADD r2, r8, r10
    ADDI r2, r2, E_DATA
    BLTU r1, r2, table_put_new
    STW r10, [r11+E_VLEN]
    ADDI r1, r11, E_DATA
    ADD r1, r1, r8
    MOV r2, r9
    MOV r3, r10
    CALL memcpy
    LI r1, 1
    JMP table_put_out
table_put_new:
    ADD r1, r8, r10
    ADDI r1, r1, E_DATA
    CALL alloc
    BEQZ r1, table_put_out              ; out of memory: r1 = 0
    MOV r6, r1                          ; r6 = the new entry
    STW r8, [r6+E_KLEN]
    STW r10, [r6+E_VLEN]
    PUSH r6
    MOV r1, r7
    MOV r2, r8
    CALL hash_bytes
    POP r6
    STW r1, [r6+E_HASH]
    PUSH r6
    ADDI r1, r6, E_DATA
    MOV r2, r7
    MOV r3, r8
    CALL memcpy                         ; the key
    ADD r1, r1, r8
    MOV r2, r9
    MOV r3, r10
    CALL memcpy                         ; the value
    POP r6
    BEQZ r11, table_put_link
    ; Replace the old entry in its chain and free it.
    LDW r1, [r11+E_NEXT]
    STW r1, [r6+E_NEXT]
    STW r6, [r12]
    MOV r1, r11
    CALL free
    LI r1, 1
    JMP table_put_out
table_put_link:
    LDW r1, [r12]                       ; push at the bucket's head
    STW r1, [r6+E_NEXT]
    STW r6, [r12]
    LDW r1, [table_count]
    ADDI r1, r1, 1
    STW r1, [table_count]
    LI r1, 1
table_put_out:
    POP r12
    POP r11
    POP r10
    POP r9
    POP r8
    POP r7
    RET

; table_del — remove a key.
;   in:  r1 = key address, r2 = key length
;   out: r1 = 1 when it was there, else 0
;   clobbers: r1 .. r6
table_del:
    CALL table_find
    BEQZ r1, table_del_out
    LDW r3, [r1+E_NEXT]
    STW r3, [r2]                        ; unlink
    CALL free
    LDW r1, [table_count]
    ADDI r1, r1, -1
    STW r1, [table_count]
    LI r1, 1
table_del_out:
    RET
