; hostid.s — print HOSTID, the identity of the host running the guest.
;
; Shows: a "weird instruction" whose value depends on where the guest runs. Like TIME and
; RAND it is a logged input: a replay on another host (or a backup taking over) gets the
; value the primary saw, so the guest cannot tell it moved. `--host-id N` overrides it.
; Run:   node --import tsx src/cli/main.ts run programs/hostid.s
;        node --import tsx src/cli/main.ts run programs/hostid.s --host-id 42
; Expected output (exit status 0), the value depending on the host, e.g. with --host-id 42:
;   host id: 0x0000002a (42)
.include "printnum.s"

.data
label_text: .asciz "host id: 0x"
open_paren: .asciz " ("
close_text: .asciz ")\n"

.code
main:
    HOSTID r7                   ; logged input, differs between hosts
    LI r1, label_text
    CALL print_str
    MOV r1, r7
    CALL print_hex
    LI r1, open_paren
    CALL print_str
    MOV r1, r7
    CALL print_uint
    LI r1, close_text
    CALL print_str
    HALT
