; netsink.s — a bulk receiver, the guest side of the network benchmark's "receive" test
; (tools/bench/net.ts, like netperf's TCP_STREAM into the VM): it takes every byte a
; connection sends and, once the peer finishes sending, answers how many bytes it took
; (in decimal, then a newline) and closes. Connections are served side by side.
;
; Shows: the card's receive loop with VEC_NET raised only while the loop sleeps (as in
; redis.s), and a reply on a half-closed connection.
; Run:   node --import tsx src/cli/main.ts run programs/netsink.s --listen 7001 --no-stdin
;        then, from another terminal: npx tsx tools/bench/netpeer.ts receive 7001 1000000
; Expected: {"bytes":1000000,"counted":1000000,...} (counted: the server's answer); the
; server runs until Ctrl-C.
; Counts are 32-bit words printed as signed numbers: a connection should send less than
; 2 GiB (the benchmark sends far less).
.include "net.s"
.include "strbuf.s"
.include "print.s"

.const CONNS 128                        ; connection ids tracked (>= NET_CONNS)
.const RXBUF_BYTES 65536                ; one whole record at a time (the card's receive bytes)
.const RXBUF_AT (__data_end + 3) & -4   ; above the image: it need not be part of it

.data
.align 4
count:  .zero CONNS * 4                 ; bytes taken on each connection since it opened
numbuf: .word 0, 24                     ; a strbuf for the answer
        .zero 24
small_text: .asciz "netsink.s: the card has more connection ids than this program tracks\n"

.code
main:
    IN r1, NET_CONNS
    SLTIU r1, r1, CONNS + 1
    BEQZ r1, too_many
    SETVEC VEC_NET, on_net
    EI

; Take one record at a time; sleep when there is none. VEC_NET is enabled only around
; the sleep, so a busy loop is not interrupted for every record.
loop:
    IN r1, NET_STATUS
    BNEZ r1, take
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
    LI r1, RXBUF_AT                     ; set each time: an answer points NET_ADDR elsewhere
    OUT NET_ADDR, r1
    LI r1, RXBUF_BYTES
    OUT NET_LEN, r1
    IN r7, NET_RECV                     ; r7 = what arrived
    IN r8, NET_RX_CONN                  ; r8 = on which connection
    SHLI r9, r8, 2                      ; r9 = its slot in count
    LI r1, NET_REC_DATA
    BEQ r7, r1, take_data
    LI r1, NET_REC_OPEN
    BEQ r7, r1, take_open
    LI r1, NET_REC_CLOSE
    BNE r7, r1, loop
    ; The peer finished: answer the count on the half-closed connection, then close it.
    LI r1, numbuf
    CALL sb_reset
    LDW r2, [r9+count]
    CALL sb_putint
    LI r2, 10
    CALL sb_putc
    OUT NET_CONN, r8
    LI r1, numbuf + SB_DATA
    OUT NET_ADDR, r1
    LDW r1, [numbuf + SB_LEN]
    OUT NET_LEN, r1
    IN r1, NET_SEND
    IN r1, NET_CLOSE
    JMP loop
take_open:
    LI r1, 0
    STW r1, [r9+count]
    JMP loop
take_data:
    IN r1, NET_RX_LEN
    LDW r2, [r9+count]
    ADD r2, r2, r1
    STW r2, [r9+count]
    JMP loop

too_many:
    LI r1, small_text
    CALL print_str
    HALT

; VEC_NET: the main loop takes the records; the interrupt only ends its WFI.
on_net:
    IRET
