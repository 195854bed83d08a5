; diskmix.s — random reads and writes on the disk, every read checked: a workload whose
; disk reads matter (kvlog.s mostly writes), for FT with non-shared disks and --backup-reads.
;
; Each block b (up to BLOCKS_MAX) holds: "DMIX", b, its generation g (1..255), value words
; derived from b and g, and the FNV-1a checksum of all the block's other words in its last
; word (programs/lib/disk.s disk_cksum). The program writes every block (generation 1),
; then does OPS operations on pseudo-random blocks (a fixed LCG, so every run does the
; same): READ_PERCENT of them read a block and check it against the generation the
; program last wrote there, the rest write the block's next generation; finally it reads
; every block once more. One request at a time, completions taken by a VEC_DISK handler.
; A block that reads back wrong is counted; the run ends with the counts.
; Run:   ftvm disk create mix.img --blocks 1024 && ftvm run programs/diskmix.s --disk mix.img
; Expected output (exit status 0), for a disk of 1024 blocks:
;   diskmix: 1024 blocks; 2052 writes, 3996 reads, 0 bad
.include "printnum.s"
.include "disk.s"

.const OPS 4000
.const MARK_AFTER_OPS 0         ; when 1..OPS-1: print "diskmix: warm" after this many operations
                                ; (benchmarks time the steady state from there; 0: no line)
.const READ_PERCENT 75
.const BLOCKS_MAX 4096          ; blocks past this are left alone
.const BUF_BYTES_MAX 4096       ; the largest block size diskmix handles
.const BLOCK_BYTES_MIN 64
.const MIX_MAGIC 0x58494D44     ; "DMIX" little-endian
.const KEY_MULT 0x9E3779B1

.data
block_bytes:   .word 0
blocks:        .word 0
io_done:       .word 0
io_status:     .word 0
seed:          .word 2463534242
n_reads:       .word 0
n_writes:      .word 0
n_bad:         .word 0
gens:          .zero BLOCKS_MAX  ; byte b: the generation last written to block b
               .align 4
buf:           .zero BUF_BYTES_MAX
t_prefix:      .asciz "diskmix: "
t_blocks:      .asciz " blocks; "
t_writes:      .asciz " writes, "
t_reads:       .asciz " reads, "
t_bad:         .asciz " bad\n"
t_warm:        .asciz "warm\n"
t_no_disk:     .asciz "no disk (run with --disk IMAGE)\n"
t_block_size:  .asciz "block size must be 64..4096 bytes\n"
t_err:         .asciz "disk request failed with status "

.code
main:
    SETVEC VEC_DISK, on_disk
    LI r1, 1
    OUT DISK_CTRL, r1           ; completions raise VEC_DISK
    IN r1, DISK_BLOCKS
    BEQZ r1, no_disk
    SLTIU r2, r1, BLOCKS_MAX + 1
    BNEZ r2, blocks_set
    LI r1, BLOCKS_MAX
blocks_set:
    STW r1, [blocks]
    IN r1, DISK_BLOCK_BYTES
    STW r1, [block_bytes]
    SLTIU r2, r1, BLOCK_BYTES_MIN
    BNEZ r2, bad_block_size
    SLTIU r2, r1, BUF_BYTES_MAX + 1
    BEQZ r2, bad_block_size

; Every block gets generation 1.
    LI r7, 0
fill:
    LDW r1, [blocks]
    BEQ r7, r1, mix_start
    LI r1, 1
    STB r1, [r7+gens]
    MOV r1, r7
    CALL write_block
    ADDI r7, r7, 1
    JMP fill

; OPS random operations: mostly reads, some writes of the block's next generation.
mix_start:
    LI r8, OPS
mix:
    BEQZ r8, final_pass
    CALL next_random            ; r1
    LDW r2, [blocks]
    REMU r7, r1, r2             ; r7 = the block
    SHRI r1, r1, 20
    LI r2, 100
    REMU r1, r1, r2
    SLTIU r1, r1, READ_PERCENT
    BEQZ r1, mix_write
    MOV r1, r7
    CALL verify_block
    JMP mix_next
mix_write:
    LDB r1, [r7+gens]
    ADDI r1, r1, 1
    ANDI r1, r1, 255
    BNEZ r1, mix_gen_set
    LI r1, 1                    ; generations run 1..255
mix_gen_set:
    STB r1, [r7+gens]
    MOV r1, r7
    CALL write_block
mix_next:
    ADDI r8, r8, -1
    LI r1, OPS - MARK_AFTER_OPS ; operations left when the marker is due (OPS with none: never)
    BNE r8, r1, mix
    LI r1, t_prefix
    CALL print_str
    LI r1, t_warm
    CALL print_str
    JMP mix

; Every block is read once more.
final_pass:
    LI r7, 0
final_next:
    LDW r1, [blocks]
    BEQ r7, r1, report
    MOV r1, r7
    CALL verify_block
    ADDI r7, r7, 1
    JMP final_next

report:
    LI r1, t_prefix
    CALL print_str
    LDW r1, [blocks]
    CALL print_uint
    LI r1, t_blocks
    CALL print_str
    LDW r1, [n_writes]
    CALL print_uint
    LI r1, t_writes
    CALL print_str
    LDW r1, [n_reads]
    CALL print_uint
    LI r1, t_reads
    CALL print_str
    LDW r1, [n_bad]
    CALL print_uint
    LI r1, t_bad
    CALL print_str
    HALT

; next_random — the next value of a 32-bit xorshift generator (a fixed sequence, not RAND:
; the run is the same every time). out: r1. Clobbers r1, r2.
next_random:
    LDW r1, [seed]
    SHLI r2, r1, 13
    XOR r1, r1, r2
    SHRI r2, r1, 17
    XOR r1, r1, r2
    SHLI r2, r1, 5
    XOR r1, r1, r2
    STW r1, [seed]
    RET

; fill_word — the value word i of block b at generation g. in: r1 = b, r2 = g, r3 = i.
; out: r1. Clobbers r1.
fill_word:
    MULI r1, r1, KEY_MULT
    XOR r1, r1, r2
    PUSH r3
    MULI r3, r3, 0x01000193
    XOR r1, r1, r3
    POP r3
    RET

; write_block — block r1 with its generation from gens, and wait for the write. Clobbers r1..r6.
write_block:
    MOV r6, r1
    LI r2, MIX_MAGIC
    STW r2, [buf]
    STW r6, [buf+4]
    LDB r2, [r6+gens]
    STW r2, [buf+8]
    LI r3, 3
    LDW r4, [block_bytes]
    SHRI r4, r4, 2
    ADDI r4, r4, -1             ; r4 = index of the checksum word
write_fill:
    BEQ r3, r4, write_sum
    MOV r1, r6
    CALL fill_word
    SHLI r5, r3, 2
    STW r1, [r5+buf]
    ADDI r3, r3, 1
    JMP write_fill
write_sum:
    PUSH r4
    LI r1, buf
    MOV r2, r4
    CALL disk_cksum
    POP r4
    SHLI r4, r4, 2
    STW r1, [r4+buf]
    LDW r1, [n_writes]
    ADDI r1, r1, 1
    STW r1, [n_writes]
    LI r1, DISK_WRITE
    MOV r2, r6
    JMP disk_io                 ; tail call

; verify_block — read block r1 and count it bad unless it holds what write_block wrote for
; its generation in gens. Clobbers r1..r6.
verify_block:
    MOV r6, r1
    LDW r1, [n_reads]
    ADDI r1, r1, 1
    STW r1, [n_reads]
    LI r1, DISK_READ
    MOV r2, r6
    CALL disk_io
    LDW r1, [buf]
    LI r2, MIX_MAGIC
    BNE r1, r2, verify_bad
    LDW r1, [buf+4]
    BNE r1, r6, verify_bad
    LDW r1, [buf+8]
    LDB r2, [r6+gens]
    BNE r1, r2, verify_bad
    LDW r2, [block_bytes]
    SHRI r2, r2, 2
    ADDI r2, r2, -1
    SHLI r5, r2, 2
    LI r1, buf
    CALL disk_cksum
    LDW r2, [r5+buf]
    BNE r1, r2, verify_bad
    RET
verify_bad:
    LDW r1, [n_bad]
    ADDI r1, r1, 1
    STW r1, [n_bad]
    RET

; disk_io — one block: r1 = DISK_READ or DISK_WRITE, r2 = block, through buf; sleeps until
; it completes and halts on an error. Clobbers r1..r5.
disk_io:
    DI
    STW r0, [io_done]
    LI r3, 1
    LI r4, buf
    LI r5, 0
    CALL disk_start
    BLT r1, r0, io_failed
disk_io_wait:
    LDW r1, [io_done]
    BNEZ r1, disk_io_arrived
    EI
    WFI
    DI
    JMP disk_io_wait
disk_io_arrived:
    EI
    LDW r1, [io_status]
    BNEZ r1, io_failed
    RET

no_disk:
    LI r1, t_prefix
    CALL print_str
    LI r1, t_no_disk
    CALL print_str
    HALT
bad_block_size:
    LI r1, t_prefix
    CALL print_str
    LI r1, t_block_size
    CALL print_str
    HALT
io_failed:
    MOV r7, r1
    LI r1, t_prefix
    CALL print_str
    LI r1, t_err
    CALL print_str
    MOV r1, r7
    CALL print_int
    CALL print_newline
    HALT

; VEC_DISK handler: take the completion (one request at a time), note its status.
on_disk:
    PUSH r1
on_disk_next:
    IN r1, DISK_DONE
    BLT r1, r0, on_disk_out
    IN r1, DISK_DONE_STATUS
    STW r1, [io_status]
    LI r1, 1
    STW r1, [io_done]
    JMP on_disk_next
on_disk_out:
    POP r1
    IRET
