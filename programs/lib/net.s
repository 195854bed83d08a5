; net.s — names for the network card's record types and statuses (see isa/README.md, "The
; network card"). The ports themselves (NET_RECV, NET_SEND, ...) are predefined.
;
; Usage:   .include "net.s"      (constants only: no code, no data)

; What IN rX, NET_RECV returns: the kind of record it took.
.const NET_REC_NONE 0           ; nothing waiting
.const NET_REC_OPEN 1           ; a connection opened (id in NET_RX_CONN)
.const NET_REC_DATA 2           ; NET_RX_LEN bytes were copied to NET_ADDR
.const NET_REC_CLOSE 3          ; the peer finished sending; close the id when done with it

; Negative statuses of NET_SEND and NET_CLOSE.
.const NET_E_BADCONN -1         ; not an open connection
.const NET_E_TOOBIG -2          ; NET_LEN above the longest send (65536)
.const NET_E_FULL -3            ; transmit buffer full (only if the host does not drain it)
