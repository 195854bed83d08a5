; trap_misaligned.s — a guest fault: a word access at an address that is not a multiple of 4.
;
; Shows: LDW and STW need 4-byte alignment (LDB and STB do not); a misaligned access traps
; with misaligned-access.
; Run:   node --import tsx src/cli/main.ts run programs/trap_misaligned.s
; Expected output: nothing on stdout; on stderr a misaligned-access trap report at the LDW;
; exit status 1.
.data
words: .word 0x11223344, 0x55667788

.code
main:
    LDB r1, [words+1]           ; fine: byte access
    LDW r2, [words+2]           ; traps: address 2 is not a multiple of 4
    HALT
