; kvlog.s — an append-only key-value log on the disk, with up to DISK_REQUESTS_MAX - 1 record
; writes in flight at once.
;
; Layout (one record per block): block 0 is the header, record i lives in block 1 + i.
;   header: "KVLG", version 1, block size, committed count C, checksum of these 4 words
;   record: "KVRC", i, key, value length in bytes, value words ..., checksum of all the
;           block's words but the last (in the last word)
; Records 0..C-1 are all on disk: the header is rewritten (every HEADER_EVERY records and at
; the end) only after every record below its count has completed. A run reads the header,
; appends up to RECORDS_PER_RUN records (fewer when the disk fills), and ends with the header
; counting them all; a second run appends after the first.
;
; Shows: the disk's bounce buffers (every record is built in the same buffer, which is
; reused as soon as its write has started), completions in any order taken by a VEC_DISK
; handler (a byte per record marks it done; the committed count advances over the done
; prefix), DISK_E_FULL as back-pressure (sleep until a slot frees), and the ordering rule
; (header writes all go to block 0, so the device runs them one after the other, in start
; order).
; Run:   ftvm disk create kv.img --blocks 2001 && ftvm run programs/kvlog.s --disk kv.img
;        ftvm disk check kv.img
; Expected output (exit status 0) on an empty image:
;   kvlog: 0 records in the log, appending 1000
;   kvlog: 100 records on disk
;   ...
;   kvlog: 1000 records on disk
;   kvlog: appended 1000 records; the log holds 1000
.include "printnum.s"
.include "disk.s"

.const RECORDS_PER_RUN 1000
.const WINDOW DISK_REQUESTS_MAX - 1  ; records in flight at most
.const HEADER_EVERY 32          ; rewrite the header after this many more records committed
.const PROGRESS_EVERY 100       ; a console line per this many records committed
.const BUF_BYTES_MAX 4096       ; the largest block size kvlog handles
.const BLOCK_BYTES_MIN 64
.const LOG_MAGIC 0x474C564B     ; "KVLG" little-endian
.const REC_MAGIC 0x4352564B     ; "KVRC"
.const LOG_VERSION 1
.const KEY_MULT 0x9E3779B1      ; key of record i = i * KEY_MULT
.const TAG_HDR_READ -1          ; tags: record index >= 0, or one of these
.const TAG_HDR_WRITE -2

.data
block_bytes:   .word 0
base:          .word 0          ; records in the log when this run began
target:        .word 0          ; records in the log when this run ends
next:          .word 0          ; next record to start
committed:     .word 0          ; records 0..committed-1 are on disk (handler writes it)
hdr_committed: .word 0          ; the count the last header write carried
hdr_read_done: .word 0
io_error:      .word 0          ; the first failed completion's status
printed:       .word 0          ; progress printed up to here
done_map:      .zero RECORDS_PER_RUN    ; byte i: record base + i has completed
               .align 4
hdr_buf:       .zero BUF_BYTES_MAX
rec_buf:       .zero BUF_BYTES_MAX
t_prefix:      .asciz "kvlog: "
t_in_log:      .asciz " records in the log, appending "
t_on_disk:     .asciz " records on disk\n"
t_appended:    .asciz "appended "
t_holds:       .asciz " records; the log holds "
t_no_disk:     .asciz "no disk (run with --disk IMAGE)\n"
t_block_size:  .asciz "block size must be 64..4096 bytes\n"
t_not_log:     .asciz "block 0 is not a kvlog header; refusing to write\n"
t_full:        .asciz "the disk is full\n"
t_start_err:   .asciz "request refused with status "
t_io_err:      .asciz "disk error, status "

.code
main:
    SETVEC VEC_DISK, on_disk
    LI r1, 1
    OUT DISK_CTRL, r1           ; completions raise VEC_DISK
    IN r1, DISK_BLOCKS
    SLTIU r2, r1, 2
    BNEZ r2, no_disk            ; a header and at least one record
    IN r1, DISK_BLOCK_BYTES
    STW r1, [block_bytes]
    SLTIU r2, r1, BLOCK_BYTES_MIN
    BNEZ r2, bad_block_size
    SLTIU r2, r1, BUF_BYTES_MAX + 1
    BEQZ r2, bad_block_size

    ; Read the header and sleep until its completion arrives.
    LI r1, DISK_READ
    LI r2, 0
    LI r3, 1
    LI r4, hdr_buf
    LI r5, TAG_HDR_READ
    CALL disk_start
    BLT r1, r0, start_failed
wait_header:
    DI
    LDW r1, [hdr_read_done]
    BNEZ r1, header_arrived
    EI
    WFI
    JMP wait_header
header_arrived:
    EI
    CALL check_error
    CALL read_header            ; r1 = committed count of the log
    STW r1, [base]
    STW r1, [committed]
    STW r1, [next]
    STW r1, [hdr_committed]
    STW r1, [printed]
    ; target = min(base + RECORDS_PER_RUN, blocks - 1)
    ADDI r2, r1, RECORDS_PER_RUN
    IN r3, DISK_BLOCKS
    ADDI r3, r3, -1
    SLTU r4, r3, r2
    BEQZ r4, target_set
    MOV r2, r3
target_set:
    STW r2, [target]
    BEQ r1, r2, disk_full
    MOV r7, r1
    MOV r8, r2
    LI r1, t_prefix
    CALL print_str
    MOV r1, r7
    CALL print_uint
    LI r1, t_in_log
    CALL print_str
    SUB r1, r8, r7
    CALL print_uint
    CALL print_newline

; Start every record's write. Record i starts only when i < committed + WINDOW: then at
; most WINDOW records are in flight (a slot stays free for header writes), and whenever a
; run stops, every record on disk past the first missing one lies within WINDOW of it,
; which is what `ftvm disk check` accepts. When the window or the slots are full (or
; DISK_E_FULL comes back), sleep until a completion.
write_loop:
    CALL check_error
    CALL maybe_header
    CALL print_progress
    LDW r7, [next]
    LDW r8, [target]
    BEQ r7, r8, drain
    MOV r1, r7
    CALL build_record           ; into rec_buf, which the last write no longer needs
start_record:
    DI
    LDW r1, [committed]         ; records in flight stay within WINDOW of the committed count
    SUB r1, r7, r1
    SLTI r1, r1, WINDOW
    BEQZ r1, slots_full
    LI r1, DISK_WRITE
    ADDI r2, r7, 1
    LI r3, 1
    LI r4, rec_buf
    MOV r5, r7
    CALL disk_start
    LI r2, DISK_E_FULL
    BEQ r1, r2, slots_full
    BLT r1, r0, start_failed
    ADDI r7, r7, 1
    STW r7, [next]
    EI
    JMP write_loop
slots_full:
    EI
    WFI                         ; a completion frees a slot or moves the window
    CALL check_error
    JMP start_record

; Every record is started: wait for all completions, then write the final header.
drain:
    CALL wait_idle
    CALL print_progress
    CALL write_header
    BLT r1, r0, start_failed
    CALL wait_idle
    LI r1, t_prefix
    CALL print_str
    LI r1, t_appended
    CALL print_str
    LDW r1, [committed]
    LDW r2, [base]
    SUB r1, r1, r2
    CALL print_uint
    LI r1, t_holds
    CALL print_str
    LDW r1, [committed]
    CALL print_uint
    CALL print_newline
    HALT

; wait_idle — sleep until no request is outstanding; halts on a disk error. Clobbers r1.
wait_idle:
    DI
    IN r1, DISK_PENDING
    BEQZ r1, wait_idle_done
    EI
    WFI
    JMP wait_idle
wait_idle_done:
    EI
    JMP check_error             ; tail call

; maybe_header — start a header write when HEADER_EVERY more records have committed.
; A refused start (all slots busy) is fine: the next call tries again. Clobbers r1..r6.
maybe_header:
    LDW r1, [committed]
    LDW r2, [hdr_committed]
    SUB r1, r1, r2
    SLTI r1, r1, HEADER_EVERY
    BNEZ r1, maybe_header_done
    CALL write_header
maybe_header_done:
    RET

; write_header — build the header with the current committed count and start its write.
; out: r1 = slot or DISK_E_* status. Clobbers r1..r6.
write_header:
    DI                          ; committed must not move between building and starting
    LI r1, LOG_MAGIC
    STW r1, [hdr_buf]
    LI r1, LOG_VERSION
    STW r1, [hdr_buf+4]
    LDW r1, [block_bytes]
    STW r1, [hdr_buf+8]
    LDW r6, [committed]
    STW r6, [hdr_buf+12]
    LI r1, hdr_buf
    LI r2, 4
    CALL disk_cksum
    STW r1, [hdr_buf+16]
    LI r1, DISK_WRITE
    LI r2, 0
    LI r3, 1
    LI r4, hdr_buf
    LI r5, TAG_HDR_WRITE
    CALL disk_start
    BLT r1, r0, write_header_done
    STW r6, [hdr_committed]
write_header_done:
    EI
    RET

; read_header — the committed count from hdr_buf: 0 for an empty disk; halts when block 0
; holds something else. out: r1. Clobbers r1..r4.
read_header:
    LDW r1, [hdr_buf]
    BEQZ r1, read_header_empty
    LI r2, LOG_MAGIC
    BNE r1, r2, not_a_log
    LDW r1, [hdr_buf+4]
    LI r2, LOG_VERSION
    BNE r1, r2, not_a_log
    LDW r1, [hdr_buf+8]
    LDW r2, [block_bytes]
    BNE r1, r2, not_a_log
    LI r1, hdr_buf
    LI r2, 4
    CALL disk_cksum
    LDW r2, [hdr_buf+16]
    BNE r1, r2, not_a_log
    LDW r1, [hdr_buf+12]
    RET
read_header_empty:
    LI r1, 0
    RET

; build_record — record r1 into rec_buf: magic, index, key, value length, value, checksum.
; Clobbers r1..r6.
build_record:
    LDW r2, [block_bytes]
    SHRI r2, r2, 2              ; r2 = words per block
    LI r3, REC_MAGIC
    STW r3, [rec_buf]
    STW r1, [rec_buf+4]
    MULI r4, r1, KEY_MULT       ; r4 = key
    STW r4, [rec_buf+8]
    ADDI r3, r2, -5
    SHLI r3, r3, 2
    STW r3, [rec_buf+12]        ; value bytes: everything between the fields and the checksum
    LI r5, 4
build_value:
    ADDI r3, r2, -1
    BEQ r5, r3, build_sum
    MULI r6, r5, 0x01000193
    XOR r6, r6, r4
    SHLI r3, r5, 2
    STW r6, [r3+rec_buf]
    ADDI r5, r5, 1
    JMP build_value
build_sum:
    PUSH r2
    LI r1, rec_buf
    ADDI r2, r2, -1
    CALL disk_cksum
    POP r2
    SHLI r2, r2, 2
    STW r1, [r2+rec_buf-4]
    RET

; print_progress — "kvlog: N records on disk" for every multiple of PROGRESS_EVERY the
; committed count has passed; the lines are the same whatever order completions come in.
; Clobbers r1..r6.
print_progress:
    LDW r6, [printed]
    ADDI r6, r6, PROGRESS_EVERY
    LDW r1, [committed]
    SLTU r1, r1, r6
    BNEZ r1, print_progress_done
    STW r6, [printed]
    LI r1, t_prefix
    CALL print_str
    MOV r1, r6
    CALL print_uint
    LI r1, t_on_disk
    CALL print_str
    JMP print_progress
print_progress_done:
    RET

; check_error — halts with a message when a completion failed. Clobbers r1, r2.
check_error:
    LDW r2, [io_error]
    BNEZ r2, io_failed
    RET

no_disk:
    LI r7, t_no_disk
    JMP fail
bad_block_size:
    LI r7, t_block_size
    JMP fail
not_a_log:
    LI r7, t_not_log
    JMP fail
disk_full:
    LI r7, t_full
    JMP fail
start_failed:
    MOV r8, r1
    LI r7, t_start_err
    JMP fail_status
io_failed:
    MOV r8, r2
    LI r7, t_io_err
fail_status:
    LI r1, t_prefix
    CALL print_str
    MOV r1, r7
    CALL print_str
    MOV r1, r8
    CALL print_int
    CALL print_newline
    HALT
fail:
    LI r1, t_prefix
    CALL print_str
    MOV r1, r7
    CALL print_str
    HALT

; VEC_DISK handler: take every completion; mark records done and advance the committed
; count over the done prefix.
on_disk:
    PUSH r1
    PUSH r2
    PUSH r3
    PUSH r4
on_disk_next:
    IN r1, DISK_DONE
    BLT r1, r0, on_disk_out     ; -1: none left
    IN r2, DISK_DONE_STATUS
    BEQZ r2, on_disk_ok
    LDW r3, [io_error]
    BNEZ r3, on_disk_next       ; keep the first error
    STW r2, [io_error]
    JMP on_disk_next
on_disk_ok:
    IN r2, DISK_DONE_TAG
    LI r3, TAG_HDR_READ
    BNE r2, r3, on_disk_not_read
    LI r3, 1
    STW r3, [hdr_read_done]
    JMP on_disk_next
on_disk_not_read:
    BLT r2, r0, on_disk_next    ; a header write: nothing to mark
    LDW r3, [base]
    SUB r3, r2, r3
    LI r4, 1
    STB r4, [r3+done_map]
    LDW r2, [committed]
    LDW r4, [target]
on_disk_advance:
    BEQ r2, r4, on_disk_advanced
    LDW r3, [base]
    SUB r3, r2, r3
    LDB r3, [r3+done_map]
    BEQZ r3, on_disk_advanced
    ADDI r2, r2, 1
    JMP on_disk_advance
on_disk_advanced:
    STW r2, [committed]
    JMP on_disk_next
on_disk_out:
    POP r4
    POP r3
    POP r2
    POP r1
    IRET
