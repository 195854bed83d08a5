; netecho.s — the smallest network server: sends every byte it receives back on the same
; connection, and closes a connection when its peer finishes.
;
; Shows: the network card's receive loop (NET_RECV takes open, data and close records,
; copying data to NET_ADDR), NET_SEND and NET_CLOSE, and VEC_NET with WFI to sleep.
; Run:   node --import tsx src/cli/main.ts run programs/netecho.s --listen 7000 --no-stdin
;        then, from another terminal: printf 'hello\n' | nc -q1 127.0.0.1 7000
; Expected: nc prints "hello"; the server runs until Ctrl-C.
.include "net.s"

.const BUF_BYTES 4096

.data
buf: .zero BUF_BYTES

.code
main:
    SETVEC VEC_NET, on_net
    LI r1, 1
    OUT NET_CTRL, r1            ; interrupt when a record arrives
    LI r1, buf
    OUT NET_ADDR, r1
loop:
    DI                          ; look for work with interrupts off, then EI; WFI (atomic)
    IN r1, NET_STATUS
    BNEZ r1, work
    EI
    WFI
    JMP loop
work:
    EI
    LI r1, BUF_BYTES
    OUT NET_LEN, r1
    IN r1, NET_RECV
    IN r2, NET_RX_CONN
    OUT NET_CONN, r2
    LI r3, NET_REC_DATA
    BEQ r1, r3, echo
    LI r3, NET_REC_CLOSE
    BNE r1, r3, loop            ; an open needs nothing
    IN r1, NET_CLOSE
    JMP loop
echo:
    IN r1, NET_RX_LEN
    OUT NET_LEN, r1
    IN r1, NET_SEND
    JMP loop

; VEC_NET: nothing to do here; the main loop takes the records. Waking it is the point.
on_net:
    IRET
