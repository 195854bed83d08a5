// programs/kvlog.s made to append `records` records and then wait, before its final header
// write, until a byte arrives on its console: a guest that cannot run out before the kills a
// test needs. With kvlog's 60,000 or 8,000 records a kill every second or so gave several
// failovers on a quiet machine, but under load the guest (which the non-shared primary runs
// without waiting for acknowledgements) once halted before the second failover, while each
// kill-and-clone cycle took longer. The test sends the byte once it has seen the failovers
// it needs (see `openGateAfter`); the output is kvlog's own, unchanged, since the gate
// prints nothing, and the console input is logged like any other input (a backup replays
// the wait and its end at the same instructions).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type RunStream, isFailover } from "./run-stream.js";

const KVLOG = fileURLToPath(new URL("../../programs/kvlog.s", import.meta.url));

/** Where the gate goes: write_loop's test that every record has started. */
const ALL_STARTED = "    BEQ r7, r8, drain\n";

// The gate: with interrupts off, look at the console (CON_STATUS: bytes buffered, or -1 at
// the input's end, which opens the gate too, so that a run without input cannot hang
// here); sleep until an interrupt otherwise (a disk completion or the console's, with
// "EI; WFI" atomic as in echo.s). The byte is left unread: nothing else reads the console.
const GATE = `
; --- added by test/support/gated-kvlog.ts: wait for a console byte before the final header
gate:
    SETVEC VEC_CONSOLE, gate_input
    LI r1, 1
    OUT CON_CTRL, r1            ; interrupt on input
gate_check:
    DI
    IN r1, CON_STATUS
    BNEZ r1, gate_open
    EI
    WFI
    JMP gate_check
gate_open:
    EI
    JMP drain
gate_input:
    IRET
`;

/** The path of a kvlog.s that appends `records` records and waits for a console byte before its final header write. */
export function gatedKvlog(records: number, dir = mkdtempSync(join(tmpdir(), "ftvm-kvlog-"))): string {
  const src = readFileSync(KVLOG, "utf8");
  if (!/^\.const RECORDS_PER_RUN 1000$/m.test(src) || src.split(ALL_STARTED).length !== 2)
    throw new Error("programs/kvlog.s changed (RECORDS_PER_RUN or write_loop's end): update test/support/gated-kvlog.ts");
  const path = join(dir, `kvlog-${records}-gated.s`);
  writeFileSync(path, src.replace(/^\.const RECORDS_PER_RUN 1000$/m, `.const RECORDS_PER_RUN ${records}`).replace(ALL_STARTED, "    BEQ r7, r8, gate\n") + GATE);
  return path;
}

/**
 * Writes the gate's byte to `input` once the run's stream has shown `failovers` failovers,
 * or after `deadlineMs` without them (the guest then finishes, and the test's own count of
 * failovers fails it with the run's log rather than hanging until the test's timeout).
 * Resolves with whether the failovers came.
 */
export async function openGateAfter(stream: RunStream, input: Writable, failovers: number, deadlineMs: number): Promise<boolean> {
  const came = await stream.waitForCount("failovers before the guest may finish", isFailover, failovers, deadlineMs).then(
    () => true,
    () => false,
  );
  input.write("g");
  return came;
}

/**
 * How long a test waits for its failovers before it opens the gate anyway (and fails): they
 * come within seconds (a kill every 0.6-1 s, each cycle 1-10 s under the standard load);
 * this bounds a run where they never come.
 */
export const GATE_DEADLINE_MS = 120_000;
