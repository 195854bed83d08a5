// A paired FT run left alone beside the standard load: does it stay paired? The issue-11
// figure "a paired programs/pulse.s left alone for 10 minutes has 0 spontaneous
// failovers" comes from here:
//
//   tsx tools/load/soak.ts [--seconds 600] [--procs 3]
//
// programs/pulse.s prints up to 2,000 lines a second from timer ticks and is idle between
// them (fewer when the machine is so busy that ticks come late); this runs a copy of it
// with room for twice --seconds of lines under `ftvm ft --json` with no fault injected,
// stops it with Ctrl-C (SIGINT) --seconds after the pair formed, and reads the run's event
// stream (docs/events.md). Any failover, backup declared failed, host exit, clone or failed
// clone is spontaneous (nothing was injected), and so is console output that is not
// exactly `seq 1 K` for some K. Prints what it counted; exits 1 if anything spontaneous
// happened.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LOAD_PROCS_DEFAULT, LOAD_SECONDS_MAX, startLoad } from "./load.js";
import { toolArgs } from "./args.js";

// The executable, as a user runs it (it starts from the checkout's compile cache).
const FTVM = fileURLToPath(new URL("../../src/cli/ftvm.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** pulse.s prints ten lines per 5 ms tick. */
const PULSE_LINES_PER_SECOND = 2000;
/** The pair must form within this long of the launch (start-up is slow under load, not this slow). */
const PAIR_FORMED_WITHIN_MS = 120_000;
/** After the SIGINT, the launcher must be gone within this long. */
const STOP_WITHIN_MS = 30_000;


/** A copy of programs/pulse.s that prints `lines` lines (its .include falls back to programs/lib). */
function pulseCopy(lines: number): string {
  const src = readFileSync(join(ROOT, "programs/pulse.s"), "utf8");
  if (!/^\.const LINES 40000$/m.test(src)) throw new Error("programs/pulse.s no longer says .const LINES 40000: update tools/load/soak.ts");
  const dir = mkdtempSync(join(tmpdir(), "ftvm-soak-"));
  const path = join(dir, "pulse-soak.s");
  writeFileSync(path, src.replace(/^\.const LINES 40000$/m, `.const LINES ${lines}`));
  return path;
}

interface Counts {
  failovers: number;
  alone: number;
  exits: string[];
  cloneFailed: number;
  clones: number;
  unprotectedMs: number;
  pairedAtMs?: number;
  end?: { code: number; outcome: string };
}

async function main(): Promise<number> {
  const arg = toolArgs("soak", "tsx tools/load/soak.ts [--seconds 600] [--procs 3]", ["seconds", "procs"]);
  const seconds = Number(arg("seconds", "600"));
  const procs = Number(arg("procs", String(LOAD_PROCS_DEFAULT)));
  if (!(seconds > 0 && seconds <= LOAD_SECONDS_MAX)) throw new Error(`--seconds must be in (0, ${LOAD_SECONDS_MAX}]`);
  const lines = Math.round(2 * seconds * PULSE_LINES_PER_SECOND);
  const program = pulseCopy(lines);
  const load = startLoad(procs, Math.min(LOAD_SECONDS_MAX, seconds + (PAIR_FORMED_WITHIN_MS + STOP_WITHIN_MS) / 1000));
  process.stderr.write(`soak: ${program} under ftvm ft for ${seconds} s after the pair forms, ${procs} busy processes beside it, no fault injected\n`);
  const c: Counts = { failovers: 0, alone: 0, exits: [], cloneFailed: 0, clones: 0, unprotectedMs: 0 };
  let consoleText = "";
  let partial = "";
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, [FTVM, "ft", program, "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    // No pair in time is a failure too: the run is stopped and the summary says so.
    let timer = setTimeout(() => p.kill("SIGINT"), PAIR_FORMED_WITHIN_MS);
    const stopAfterPaired = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        p.kill("SIGINT");
        timer = setTimeout(() => p.kill("SIGKILL"), STOP_WITHIN_MS);
      }, seconds * 1000);
    };
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (d: string) => {
      partial += d;
      let nl: number;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        switch (e.type) {
          case "console":
            consoleText += e.text as string;
            break;
          case "failover":
            c.failovers++;
            break;
          case "alone":
            c.alone++;
            break;
          case "exit":
            // The arbiter and hosts end with the run; only an exit while it goes on is a failure.
            if (e.kind === "failed" || e.kind === "killed") c.exits.push(`${e.role} pid ${e.pid} ${e.kind} (code ${e.code}, signal ${e.signal})`);
            break;
          case "clone-failed":
            c.cloneFailed++;
            break;
          case "clone":
            c.clones++;
            break;
          case "protection":
            if (e.protected === true && c.pairedAtMs === undefined) {
              c.pairedAtMs = e.t as number;
              stopAfterPaired();
            }
            c.unprotectedMs = e.unprotectedMs as number;
            break;
          case "end":
            c.end = { code: e.code as number, outcome: e.outcome as string };
            break;
        }
      }
    });
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  await load.stop();
  // Stopped by Ctrl-C: the output must be the first K lines exactly, K whole lines.
  const got = consoleText.split("\n");
  const last = got.pop();
  const exact = last === "" && got.every((l, i) => l === String(i + 1));
  const spontaneous = c.failovers + c.alone + c.exits.length + c.cloneFailed + c.clones;
  process.stdout.write(
    `soak: ${((Date.now() - started) / 1000).toFixed(0)} s, exit ${code}, ${exact ? `output exact (1 to ${got.length})` : `output NOT exact (${consoleText.length} bytes)`}; ` +
      `pair formed at ${c.pairedAtMs ?? "-"} ms; spontaneous: ${c.failovers} failovers, ${c.alone} backups declared failed, ${c.exits.length} host exits${c.exits.length ? ` (${c.exits.join("; ")})` : ""}, ` +
      `${c.clones} clones, ${c.cloneFailed} failed clones; unprotected ${c.unprotectedMs} ms in all\n`,
  );
  // 130: stopped by Ctrl-C, as intended (0 if the guest finished first).
  return (code === 130 || code === 0) && c.pairedAtMs !== undefined && exact && got.length > 0 && spontaneous === 0 ? 0 : 1;
}

process.exit(await main());
