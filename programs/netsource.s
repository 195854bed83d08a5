; netsource.s — a bulk sender, the guest side of the network benchmark's "transmit" test
; (tools/bench/net.ts, like netperf's TCP_STREAM out of the VM). A client asks for bytes
; with lines of a decimal count and a newline; the server sends that many bytes ('x') in
; all, and closes once it has sent everything asked and the client has finished sending.
; A client paces the stream by asking a window at a time, as TCP's window would: the host
; writes whatever the guest transmits to the client's socket without holding the guest
; back, and disconnects a client that leaves more than 16 MiB of it unread.
; Connections are served side by side: one 64 KiB send to each in turn.
;
; Shows: sends interleaved with taking records; a stream paced by its reader.
; Run:   node --import tsx src/cli/main.ts run programs/netsource.s --listen 7002 --no-stdin
;        then, from another terminal: npx tsx tools/bench/netpeer.ts transmit 7002 100000000
; Expected: {"bytes":100000000,"counted":100000000,...}; the server runs until Ctrl-C.
; Counts are 32-bit: a connection asks for less than 4 GiB in all at any time.
.include "net.s"
.include "mem.s"
.include "print.s"

.const CONNS 128                        ; connection ids tracked (>= NET_CONNS)
.const CHUNK_BYTES 65536                ; one send (the card's longest)
.const RXBUF_BYTES 4096                 ; request lines
.const TXBUF_AT (__data_end + 3) & -4   ; the bytes sent, above the image
.const RXBUF_AT TXBUF_AT + CHUNK_BYTES

.data
.align 4
open:    .zero CONNS * 4                ; 1 while the connection is ours to serve
peerdone: .zero CONNS * 4               ; 1 once its peer finished sending
number:  .zero CONNS * 4                ; the count being read
left:    .zero CONNS * 4                ; bytes asked and not yet sent
sending: .word 0                        ; open connections with bytes left
cursor:  .word 0                        ; the last connection a send went to
small_text: .asciz "netsource.s: the card has more connection ids than this program tracks\n"

.code
main:
    IN r1, NET_CONNS
    SLTIU r1, r1, CONNS + 1
    BEQZ r1, too_many
    LI r1, TXBUF_AT
    LI r2, 'x'
    LI r3, CHUNK_BYTES
    CALL memset
    SETVEC VEC_NET, on_net
    EI

; Records first; then one send; sleep only when there is neither. VEC_NET is enabled only
; around the sleep (as in redis.s), so a busy loop is not interrupted for every record.
loop:
    IN r1, NET_STATUS
    BNEZ r1, take
    LDW r1, [sending]
    BNEZ r1, send_one
    DI                                  ; decide to sleep with no record slipping in between
    LI r1, 1
    OUT NET_CTRL, r1
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
    SHLI r9, r8, 2                      ; r9 = its slot
    LI r1, NET_REC_DATA
    BEQ r7, r1, take_data
    LI r1, NET_REC_OPEN
    BEQ r7, r1, take_open
    LI r1, NET_REC_CLOSE
    BNE r7, r1, loop
    ; The peer finished asking: close now if everything asked is sent, else after the last send.
    LI r1, 1
    STW r1, [r9+peerdone]
    LDW r1, [r9+left]
    BNEZ r1, loop
    MOV r1, r8
    CALL finish
    JMP loop
take_open:
    LI r1, 1
    STW r1, [r9+open]
    LI r1, 0
    STW r1, [r9+peerdone]
    STW r1, [r9+number]
    STW r1, [r9+left]
    JMP loop
take_data:
    LDW r1, [r9+open]
    BEQZ r1, loop
    IN r3, NET_RX_LEN
    LI r4, RXBUF_AT                     ; r4 = next byte
    ADD r3, r4, r3                      ; r3 = end
    LDW r5, [r9+number]                 ; r5 = the count being read
digit:
    BGEU r4, r3, digits_out
    LDB r1, [r4]
    ADDI r4, r4, 1
    LI r2, 10
    BEQ r1, r2, asked
    ADDI r1, r1, -48                    ; '0'
    SLTIU r2, r1, 10
    BEQZ r2, digit                      ; not a digit (e.g. '\r'): skip it
    MULI r5, r5, 10
    ADD r5, r5, r1
    JMP digit
asked:                                  ; a whole line: add its count to what is left to send
    LDW r1, [r9+left]
    ADD r2, r1, r5
    STW r2, [r9+left]
    LI r5, 0
    BNEZ r1, digit                      ; already counted in `sending`
    BEQZ r2, digit                      ; asked for nothing
    LDW r1, [sending]
    ADDI r1, r1, 1
    STW r1, [sending]
    JMP digit
digits_out:
    STW r5, [r9+number]
    JMP loop

; One send of up to CHUNK_BYTES to the next connection after the cursor with bytes left.
send_one:
    LDW r8, [cursor]
send_find:
    ADDI r8, r8, 1
    LI r1, CONNS
    BLTU r8, r1, send_in_range
    LI r8, 0
send_in_range:
    SHLI r9, r8, 2
    LDW r5, [r9+left]                   ; r5 = bytes left
    BEQZ r5, send_find                  ; `sending` > 0, so one is found
    STW r8, [cursor]
    LI r1, CHUNK_BYTES
    BGEU r5, r1, send_chunk
    MOV r1, r5
send_chunk:
    OUT NET_CONN, r8
    OUT NET_LEN, r1
    SUB r5, r5, r1
    STW r5, [r9+left]
    LI r1, TXBUF_AT
    OUT NET_ADDR, r1
    IN r1, NET_SEND
    BNEZ r5, loop
    LDW r1, [sending]
    ADDI r1, r1, -1
    STW r1, [sending]
    LDW r1, [r9+peerdone]
    BEQZ r1, loop                       ; more may be asked
    MOV r1, r8
    CALL finish
    JMP loop

; finish — close connection r1 (its bytes left are zero).   clobbers: r1, r2
finish:
    SHLI r2, r1, 2
    OUT NET_CONN, r1
    LI r1, 0
    STW r1, [r2+open]
    IN r1, NET_CLOSE
    RET

too_many:
    LI r1, small_text
    CALL print_str
    HALT

; VEC_NET: the main loop takes the records; the interrupt only ends its WFI.
on_net:
    IRET
