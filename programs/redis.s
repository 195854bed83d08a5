; redis.s — a Redis-protocol server (RESP2) with an in-memory hash table, serving many
; connections at once through the network card.
;
; Commands: PING, ECHO, GET, SET, DEL, EXISTS, INCR, DECR, INCRBY, DBSIZE, QUIT, in the
; multibulk form clients send and the inline form people type ("SET k v"), pipelined or
; not. Errors are Redis's own texts: unknown command, wrong number of arguments, syntax
; error, "value is not an integer or out of range" (integers are signed 64-bit, as in
; Redis), and protocol errors (after which the connection closes).
; Run:   node --import tsx src/cli/main.ts run programs/redis.s --mem 16MiB --listen 6379
;        then:  redis-cli -p 6379 SET counter 10  /  redis-cli -p 6379 INCR counter
; Expected: the console shows "redis.s: ready"; the server runs until Ctrl-C.
;
; Design. Every connection has an input buffer. A network record is taken into a staging
; buffer, appended to its connection's input, and every whole command there is parsed
; (resp.s) and run; the rest waits for more bytes. Replies go to one output strbuf that is
; sent to the connection when a command's reply might not fit and after each record, so a
; pipeline of many commands is answered with few sends. Keys live in hash.s's table.
; The main loop sleeps with WFI when no record is waiting; VEC_NET only wakes it.
.include "resp.s"
.include "hash.s"
.include "print.s"
.include "net.s"

.const CONNS 128                        ; connection ids the server can track (>= NET_CONNS)
.const INBUF_BYTES 32768                ; per connection: the longest command accepted
.const RXBUF_BYTES 16384                ; staging for one network record
.const OUT_BYTES 65536                  ; replies sent at once (= the longest NET_SEND)
.const OUT_FLUSH_AT OUT_BYTES - INBUF_BYTES - 1024   ; send before a command whose reply might not fit
.const BUCKET_COUNT 65536               ; hash table buckets (a power of two)
.const HEAP_MIN 1 << 20                 ; the least heap worth starting with
.const ERR_ARGS_MAX 128                 ; an unknown-command error quotes this much of the arguments

; Large areas live above the program's data (they are not part of the image).
.const BUCKETS_AT (__data_end + 4095) & -4096
.const INBUFS_AT BUCKETS_AT + BUCKET_COUNT * 4
.const RXBUF_AT INBUFS_AT + CONNS * INBUF_BYTES
.const OUT_AT RXBUF_AT + RXBUF_BYTES    ; a strbuf: length, capacity, bytes
.const HEAP_AT OUT_AT + SB_DATA + OUT_BYTES

.data
.align 4
conn_open: .zero CONNS * 4              ; 1 while the connection is ours to serve
in_len:    .zero CONNS * 4              ; bytes waiting in its input buffer
numbuf:    .word 0, 24                  ; a strbuf for formatting a number
           .zero 24

cmd_table:                              ; name, handler, arity (-N: at least N)
    .word name_get, cmd_get, 2
    .word name_set, cmd_set, -3
    .word name_incr, cmd_incr, 2
    .word name_ping, cmd_ping, -1
    .word name_echo, cmd_echo, 2
    .word name_del, cmd_del, -2
    .word name_exists, cmd_exists, -2
    .word name_decr, cmd_decr, 2
    .word name_incrby, cmd_incrby, 3
    .word name_dbsize, cmd_dbsize, 1
    .word name_quit, cmd_quit, -1
    .word 0
name_get:    .asciz "get"
name_set:    .asciz "set"
name_incr:   .asciz "incr"
name_ping:   .asciz "ping"
name_echo:   .asciz "echo"
name_del:    .asciz "del"
name_exists: .asciz "exists"
name_decr:   .asciz "decr"
name_incrby: .asciz "incrby"
name_dbsize: .asciz "dbsize"
name_quit:   .asciz "quit"

pong_text:      .asciz "PONG"
e_syntax:       .asciz "ERR syntax error"
e_not_int:      .asciz "ERR value is not an integer or out of range"
e_overflow:     .asciz "ERR increment or decrement would overflow"
e_oom:          .asciz "OOM command not allowed when used memory > 'maxmemory'."
e_args_1:       .asciz "-ERR wrong number of arguments for '"
e_args_2:       .asciz "' command\r\n"
e_unknown_1:    .asciz "-ERR unknown command '"
e_unknown_2:    .asciz "', with args beginning with: "
e_quote_space:  .asciz "' "
e_mbulk:        .asciz "ERR Protocol error: invalid multibulk length"
e_bulk:         .asciz "ERR Protocol error: invalid bulk length"
e_dollar:       .asciz "-ERR Protocol error: expected '$', got '"
e_dollar_2:     .asciz "'\r\n"
e_too_big:      .asciz "ERR Protocol error: request too big (the limit is 32768 bytes)"
ready_text:     .asciz "redis.s: ready\n"
small_text:     .asciz "redis.s: needs more data memory: run with --mem 16MiB\n"

.code
main:
    IN r1, STACK_BASE
    LI r2, HEAP_AT + HEAP_MIN
    BLTU r1, r2, too_small
    IN r1, NET_CONNS
    SLTIU r1, r1, CONNS + 1
    BEQZ r1, too_small
    LI r1, BUCKETS_AT                   ; fresh memory is zero: the buckets are empty
    LI r2, BUCKET_COUNT
    CALL table_init
    LI r1, HEAP_AT
    IN r2, STACK_BASE
    CALL alloc_init
    LI r1, OUT_BYTES
    STW r1, [OUT_AT+SB_CAP]
    SETVEC VEC_NET, on_net
    EI
    LI r1, ready_text
    CALL print_str

; The main loop: take one record at a time; sleep when there is none. The card raises
; VEC_NET only while the loop sleeps: while it works, records are delivered without an
; interrupt each (the host hands over everything that arrived at once).
loop:
    IN r1, NET_STATUS
    BNEZ r1, take
    DI                                  ; decide to sleep with no record slipping in between
    LI r1, 1
    OUT NET_CTRL, r1                    ; wake on the next record
    IN r1, NET_STATUS
    BNEZ r1, awake
    EI
    WFI
awake:
    LI r1, 0
    OUT NET_CTRL, r1
    EI
    JMP loop
take:
    LI r1, RXBUF_AT
    OUT NET_ADDR, r1
    LI r1, RXBUF_BYTES
    OUT NET_LEN, r1
    IN r7, NET_RECV                     ; r7 = what arrived
    IN r8, NET_RX_CONN                  ; r8 = on which connection
    LI r1, NET_REC_DATA
    BEQ r7, r1, take_data
    LI r1, NET_REC_OPEN
    BEQ r7, r1, take_open
    LI r1, NET_REC_CLOSE
    BNE r7, r1, loop
    MOV r1, r8                          ; the peer is done: so are we
    CALL conn_close
    JMP loop
take_open:
    SHLI r1, r8, 2
    LI r2, 1
    STW r2, [r1+conn_open]
    LI r2, 0
    STW r2, [r1+in_len]
    JMP loop
take_data:
    MOV r1, r8
    IN r2, NET_RX_LEN
    CALL conn_data
    JMP loop

too_small:
    LI r1, small_text
    CALL print_str
    HALT

; VEC_NET: the main loop takes the records; the interrupt only ends its WFI.
on_net:
    IRET

; conn_close — stop serving a connection and close it (nothing when it is not open).
;   in:  r1 = connection   clobbers: r1, r2
conn_close:
    SHLI r2, r1, 2
    PUSH r3
    LDW r3, [r2+conn_open]
    BEQZ r3, conn_close_done
    LI r3, 0
    STW r3, [r2+conn_open]
    OUT NET_CONN, r1
    IN r1, NET_CLOSE
conn_close_done:
    POP r3
    RET

; conn_data — r2 bytes arrived at RXBUF_AT for connection r1: append them to its input and
; run every whole command; send the replies.
;   clobbers: r1 .. r6
conn_data:
    PUSH r9
    PUSH r10
    PUSH r11
    MOV r9, r1                          ; r9 = connection
    LI r10, RXBUF_AT                    ; r10 = bytes not yet appended
    MOV r11, r2                         ; r11 = how many
    SHLI r1, r9, 2
    LDW r1, [r1+conn_open]
    BEQZ r1, conn_data_out              ; data for a connection we closed: ignore it
conn_data_more:
    SHLI r4, r9, 2
    LDW r5, [r4+in_len]
    LI r3, INBUF_BYTES
    SUB r3, r3, r5                      ; r3 = room
    BGEU r11, r3, conn_data_some
    MOV r3, r11
conn_data_some:
    ADD r6, r5, r3
    STW r6, [r4+in_len]
    SUB r11, r11, r3
    MULI r1, r9, INBUF_BYTES
    ADDI r1, r1, INBUFS_AT
    ADD r1, r1, r5
    MOV r2, r10
    ADD r10, r10, r3
    CALL memcpy
    MOV r1, r9
    CALL conn_run
    BNEZ r1, conn_data_out              ; the connection was closed
    SHLI r4, r9, 2
    LDW r5, [r4+in_len]
    LI r3, INBUF_BYTES
    BEQ r5, r3, conn_data_too_big       ; full, and no whole command in it
    BNEZ r11, conn_data_more
    MOV r1, r9
    CALL flush
conn_data_out:
    POP r11
    POP r10
    POP r9
    RET
conn_data_too_big:
    LI r1, OUT_AT
    LI r2, e_too_big
    CALL resp_error
    MOV r1, r9
    CALL flush
    MOV r1, r9
    CALL conn_close
    JMP conn_data_out

; conn_run — parse and run every whole command in a connection's input; keep the rest.
;   in:  r1 = connection
;   out: r1 = 1 when the connection was closed (a protocol error, QUIT), else 0
;   clobbers: r1 .. r6
conn_run:
    PUSH r9
    PUSH r10
    PUSH r11
    PUSH r12
    MOV r9, r1                          ; r9 = connection
    MULI r10, r1, INBUF_BYTES
    ADDI r10, r10, INBUFS_AT            ; r10 = its input buffer
    SHLI r1, r1, 2
    LDW r11, [r1+in_len]                ; r11 = bytes in it
    LI r12, 0                           ; r12 = bytes consumed
conn_run_next:
    LDW r1, [OUT_AT+SB_LEN]
    LI r2, OUT_FLUSH_AT
    BLTU r1, r2, conn_run_parse
    MOV r1, r9
    CALL flush
conn_run_parse:
    ADD r1, r10, r12
    SUB r2, r11, r12
    CALL resp_parse
    BEQZ r1, conn_run_keep              ; the rest is not a whole command yet
    SLTI r2, r1, 0
    BNEZ r2, conn_run_bad
    ADD r12, r12, r1
    LDW r1, [resp_argc]
    BEQZ r1, conn_run_next              ; an empty line
    CALL execute
    BEQZ r1, conn_run_next
    MOV r1, r9                          ; QUIT: its +OK goes out, then the connection closes
    CALL flush
    MOV r1, r9
    CALL conn_close
    LI r1, 1
    JMP conn_run_out
conn_run_keep:
    ; Move the incomplete rest to the front (memcpy copies downwards safely).
    SUB r3, r11, r12
    SHLI r1, r9, 2
    STW r3, [r1+in_len]
    BEQZ r12, conn_run_kept
    MOV r1, r10
    ADD r2, r10, r12
    CALL memcpy
conn_run_kept:
    LI r1, 0
conn_run_out:
    POP r12
    POP r11
    POP r10
    POP r9
    RET
conn_run_bad:
    CALL protocol_error
    MOV r1, r9
    CALL flush
    MOV r1, r9
    CALL conn_close
    LI r1, 1
    JMP conn_run_out

; protocol_error — the reply for resp_parse's error r1.   clobbers: r1 .. r6
protocol_error:
    LI r2, RESP_E_DOLLAR
    BEQ r1, r2, protocol_error_dollar
    LI r2, e_bulk
    LI r3, RESP_E_BULK
    BEQ r1, r3, protocol_error_text
    LI r2, e_mbulk
protocol_error_text:
    LI r1, OUT_AT
    JMP resp_error
protocol_error_dollar:
    LI r1, OUT_AT
    LI r2, e_dollar
    CALL sb_puts
    LDW r2, [resp_bad]
    CALL sb_putc
    LI r2, e_dollar_2
    JMP sb_puts

; flush — send the replies gathered in OUT_AT to a connection.
;   in:  r1 = connection   clobbers: r1, r2
flush:
    LDW r2, [OUT_AT+SB_LEN]
    BEQZ r2, flush_done
    OUT NET_CONN, r1
    OUT NET_LEN, r2
    LI r1, OUT_AT + SB_DATA
    OUT NET_ADDR, r1
    IN r1, NET_SEND                     ; the connection is open, the length in range: it succeeds
    LI r1, 0
    STW r1, [OUT_AT+SB_LEN]
flush_done:
    RET

; execute — run the command in resp_argc/argv/argl, appending its reply to OUT_AT.
;   out: r1 = 1 when the connection should close after the reply (QUIT), else 0
;   clobbers: r1 .. r6
execute:
    PUSH r9
    LI r9, cmd_table                    ; r9 = the entry being compared
execute_find:
    LDW r3, [r9]
    BEQZ r3, execute_unknown
    LDW r1, [resp_argv]
    LDW r2, [resp_argl]
    CALL name_is
    BNEZ r1, execute_found
    ADDI r9, r9, 12
    JMP execute_find
execute_found:
    LDW r1, [r9+8]                      ; arity
    LDW r2, [resp_argc]
    SLTI r3, r1, 0
    BNEZ r3, execute_at_least
    BNE r1, r2, execute_arity
    JMP execute_run
execute_at_least:
    LI r3, 0
    SUB r1, r3, r1
    BLT r2, r1, execute_arity
execute_run:
    LDW r1, [r9+4]
    CALLR r1
    POP r9
    RET
execute_arity:
    LDW r2, [r9]
    POP r9
    JMP arity_error

; arity_error — "-ERR wrong number of arguments for 'NAME' command".
;   in:  r2 = the command's name   out: r1 = 0   clobbers: r1 .. r5
arity_error:
    PUSH r2
    LI r1, OUT_AT
    LI r2, e_args_1
    CALL sb_puts
    POP r2
    CALL sb_puts
    LI r2, e_args_2
    CALL sb_puts
    LI r1, 0
    RET
execute_unknown:
    POP r9
    JMP unknown_command

; name_is — does the argument (r1, length r2) spell the lower-case name r3, in any case?
;   out: r1 = 1 or 0   clobbers: r1 .. r5
name_is:
    ADD r2, r1, r2                      ; r2 = end of the argument
name_is_next:
    LDB r4, [r3]
    BEQ r1, r2, name_is_end
    BEQZ r4, name_is_no                 ; the argument is longer
    LDB r5, [r1]
    ADDI r5, r5, -'A'
    SLTIU r5, r5, 26
    BEQZ r5, name_is_as_is
    LDB r5, [r1]
    ADDI r5, r5, 'a' - 'A'
    JMP name_is_cmp
name_is_as_is:
    LDB r5, [r1]
name_is_cmp:
    BNE r4, r5, name_is_no
    ADDI r1, r1, 1
    ADDI r3, r3, 1
    JMP name_is_next
name_is_end:
    BNEZ r4, name_is_no                 ; the name is longer
    LI r1, 1
    RET
name_is_no:
    LI r1, 0
    RET

; unknown_command — "-ERR unknown command 'NAME', with args beginning with: 'A' 'B' ", as
; Redis words it (the name and the quoted arguments cut at 128 bytes).
;   out: r1 = 0   clobbers: r1 .. r6
unknown_command:
    PUSH r9
    PUSH r10
    PUSH r11
    LI r1, OUT_AT
    LI r2, e_unknown_1
    CALL sb_puts
    LDW r2, [resp_argv]
    LDW r3, [resp_argl]
    SLTIU r4, r3, ERR_ARGS_MAX + 1
    BNEZ r4, unknown_name
    LI r3, ERR_ARGS_MAX
unknown_name:
    CALL sb_putmem
    LI r2, e_unknown_2
    CALL sb_puts
    LDW r10, [OUT_AT+SB_LEN]            ; r10 = where the quoted arguments start
    LI r9, 1                            ; r9 = argument index
unknown_arg:
    LDW r1, [resp_argc]
    BGE r9, r1, unknown_end
    LDW r11, [OUT_AT+SB_LEN]
    SUB r11, r11, r10                   ; r11 = quoted so far
    SLTIU r1, r11, ERR_ARGS_MAX
    BEQZ r1, unknown_end
    LI r1, OUT_AT
    LI r2, 39                           ; '
    CALL sb_putc
    SHLI r4, r9, 2
    LDW r2, [r4+resp_argv]
    LDW r3, [r4+resp_argl]
    LI r5, ERR_ARGS_MAX
    SUB r5, r5, r11                     ; at most 128 - quoted so far
    BGEU r5, r3, unknown_arg_put
    MOV r3, r5
unknown_arg_put:
    CALL sb_putmem
    LI r2, e_quote_space
    CALL sb_puts
    ADDI r9, r9, 1
    JMP unknown_arg
unknown_end:
    LI r1, OUT_AT
    LI r2, resp_crlf_text
    CALL sb_puts
    LI r1, 0
    POP r11
    POP r10
    POP r9
    RET

; ---- the commands: each reads resp_argv/argl, appends its reply to OUT_AT, returns r1 = 0
; (QUIT: 1) and clobbers r1 .. r6.

.macro ARG n, addr, len                 ; the address and length of argument n
    LDW \addr, [resp_argv + \n * 4]
    LDW \len, [resp_argl + \n * 4]
.endm

cmd_ping:
    LDW r1, [resp_argc]
    LI r2, 2
    BEQ r1, r2, cmd_echo                ; PING message: the message comes back
    BLT r2, r1, cmd_ping_arity          ; more than one argument
    LI r1, OUT_AT
    LI r2, pong_text
    CALL resp_simple
    LI r1, 0
    RET
cmd_ping_arity:
    LI r2, name_ping
    JMP arity_error

cmd_echo:
    ARG 1, r2, r3
    LI r1, OUT_AT
    CALL resp_bulk
    LI r1, 0
    RET

cmd_get:
    ARG 1, r1, r2
    CALL table_find
    BEQZ r1, cmd_get_null
    CALL table_value
    MOV r3, r2
    MOV r2, r1
    LI r1, OUT_AT
    CALL resp_bulk
    LI r1, 0
    RET
cmd_get_null:
    LI r1, OUT_AT
    CALL resp_null
    LI r1, 0
    RET

cmd_set:
    LDW r1, [resp_argc]
    LI r2, 3
    BNE r1, r2, cmd_set_syntax          ; options (EX, NX, ...) are not supported
    ARG 1, r1, r2
    ARG 2, r3, r4
    CALL table_put
    BEQZ r1, reply_oom
    LI r1, OUT_AT
    CALL resp_ok
    LI r1, 0
    RET
cmd_set_syntax:
    LI r2, e_syntax
    JMP reply_error

cmd_del:
    PUSH r9
    PUSH r10
    LI r9, 1                            ; r9 = argument index
    LI r10, 0                           ; r10 = keys deleted
cmd_del_next:
    LDW r1, [resp_argc]
    BGE r9, r1, cmd_count_reply
    SHLI r3, r9, 2
    LDW r1, [r3+resp_argv]
    LDW r2, [r3+resp_argl]
    CALL table_del
    ADD r10, r10, r1
    ADDI r9, r9, 1
    JMP cmd_del_next
cmd_count_reply:                        ; DEL and EXISTS: reply r10, restore r9, r10
    LI r1, OUT_AT
    MOV r2, r10
    CALL resp_int
    POP r10
    POP r9
    LI r1, 0
    RET

cmd_exists:
    PUSH r9
    PUSH r10
    LI r9, 1
    LI r10, 0                           ; r10 = keys found (a key named twice counts twice)
cmd_exists_next:
    LDW r1, [resp_argc]
    BGE r9, r1, cmd_count_reply
    SHLI r3, r9, 2
    LDW r1, [r3+resp_argv]
    LDW r2, [r3+resp_argl]
    CALL table_find
    SLTIU r1, r1, 1
    XORI r1, r1, 1                      ; 1 when found
    ADD r10, r10, r1
    ADDI r9, r9, 1
    JMP cmd_exists_next

cmd_dbsize:
    LI r1, OUT_AT
    LDW r2, [table_count]
    CALL resp_int
    LI r1, 0
    RET

cmd_quit:
    LI r1, OUT_AT
    CALL resp_ok
    LI r1, 1
    RET

cmd_incr:
    LI r1, 1
    LI r2, 0
    JMP incr_by
cmd_decr:
    LI r1, -1
    LI r2, -1
    JMP incr_by
cmd_incrby:
    ARG 2, r1, r2
    CALL resp_str_int64
    BEQZ r3, reply_not_int
    JMP incr_by

; incr_by — add r2:r1 (a signed 64-bit number) to the integer stored at argument 1 (a
; missing key counts as 0), as Redis does: 64-bit values, an error on overflow.
incr_by:
    PUSH r9
    PUSH r10
    PUSH r11
    PUSH r12
    MOV r9, r1                          ; r10:r9 = the increment
    MOV r10, r2
    LI r11, 0                           ; r12:r11 = the current value
    LI r12, 0
    ARG 1, r1, r2
    CALL table_find
    BEQZ r1, incr_by_add
    CALL table_value
    CALL resp_str_int64
    BEQZ r3, incr_by_not_int
    MOV r11, r1
    MOV r12, r2
incr_by_add:
    ADD r1, r11, r9                     ; r2:r1 = the sum
    SLTU r3, r1, r9
    ADD r2, r12, r10
    ADD r2, r2, r3
    XOR r3, r12, r2
    XOR r4, r10, r2
    AND r3, r3, r4
    SLTI r3, r3, 0                      ; both operands' signs differ from the sum's: overflow
    BNEZ r3, incr_by_overflow
    MOV r11, r1
    MOV r12, r2
    LI r1, numbuf
    CALL sb_reset
    MOV r2, r11
    MOV r3, r12
    CALL sb_putint64
    ARG 1, r1, r2
    LI r3, numbuf + SB_DATA
    LDW r4, [numbuf+SB_LEN]
    CALL table_put
    BEQZ r1, incr_by_oom
    LI r1, OUT_AT
    MOV r2, r11
    MOV r3, r12
    CALL resp_int64
    LI r1, 0
    JMP incr_by_out
incr_by_not_int:
    LI r2, e_not_int
    JMP incr_by_error
incr_by_overflow:
    LI r2, e_overflow
    JMP incr_by_error
incr_by_oom:
    LI r2, e_oom
incr_by_error:
    LI r1, OUT_AT
    CALL resp_error
    LI r1, 0
incr_by_out:
    POP r12
    POP r11
    POP r10
    POP r9
    RET

reply_not_int:
    LI r2, e_not_int
    JMP reply_error
reply_oom:
    LI r2, e_oom
reply_error:                            ; r2 = the error text
    LI r1, OUT_AT
    CALL resp_error
    LI r1, 0
    RET
