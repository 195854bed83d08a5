// `ftvm trace diff`: two traces, or every pair of host traces in a directory (ftvm ft --trace-dir).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { OperatingError } from "../base/errors.js";
import { readRegularFile } from "../base/read-file.js";
import { EXIT_FAIL, EXIT_OK, UsageError, defineCommand } from "./args.js";
import { openTrace } from "../host/files.js";
import type { AlignedDiff } from "../trace/align.js";
import { diffAligned } from "../trace/align.js";
import type { TraceHeader, TraceRecord } from "../trace/format.js";
import { decodeImage } from "../vm/image.js";
import { instructionAt } from "./describe.js";
import { decodeDebugLog } from "../debug/log.js";
import { ReexecError, reexecute } from "../trace/reexec.js";
import { compiledEngine } from "../vm/compile.js";

/** `trace diff --log`: the log is read whole to re-execute from it (as the debugger reads it). */
const REEXEC_LOG_BYTES_MAX = 1024 * 1024 * 1024;

/** Re-executes the stretch where the traces first differ from the run's log (trace/reexec.ts); report lines. */
function exactInstruction(logPath: string, tracePath: string, res: AlignedDiff): string[] {
  if (!res.at) return [];
  if (!res.at.prev) return ["  (--log: the traces differ at their first record; there is no common record to re-execute from)"];
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(logPath, REEXEC_LOG_BYTES_MAX, "of a log read whole (REEXEC_LOG_BYTES_MAX)");
  } catch (e) {
    if (e instanceof OperatingError) throw e;
    throw new UsageError(`${logPath}: ${(e as Error).message}`);
  }
  const log = decodeDebugLog(bytes, logPath);
  const t = openTrace(tracePath);
  if (!sameImage(t.header.image, log.header.image)) throw new UsageError(`${logPath} is a log of another program than ${tracePath}`);
  try {
    return reexecute({
      image: log.image,
      memBytes: log.header.memBytes,
      stackBytes: log.header.stackBytes,
      disk: log.header.disk ?? undefined,
      events: log.events,
      intervalIcount: t.header.intervalIcount,
      prev: res.at.prev,
      nextA: res.at.a,
      nextB: res.at.b,
      compiled: () => compiledEngine(),
      disasm: (pc) => instructionAt(log.image, pc),
    }).lines;
  } catch (e) {
    if (e instanceof ReexecError) return [`  (--log: ${e.message})`];
    throw e;
  }
}

function sameImage(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The version of `ftvm trace diff --json`'s objects (one per compared pair, one line each). */
export const TRACE_DIFF_JSON_VERSION = 1;
/** A directory holds at most this many traces to compare pairwise (the pairs grow as its square). */
const DIR_TRACES_MAX = 64;

export const traceCommand = defineCommand({
  name: "trace",
  summary: "compare execution traces: ftvm trace diff a.trace b.trace | DIR",
  args: [
    ["<action>", "diff (the only one)"],
    ["<a>", "the expected trace, or a directory of traces (ftvm ft --trace-dir)"],
    ["[b]", "the trace to compare with it"],
  ],
  options: {
    log: { flags: "--log <file>", help: "the run's log (ftvm record -o, ftvm ft --record): re-execute between the last record the traces agree on and the first that differs, and name the first instruction whose result differs (registers and memory ranges expected/got)" },
    json: { flags: "--json", help: `one JSON object per compared pair, one per line: {"version": ${TRACE_DIFF_JSON_VERSION}, "a", "b", "identical", "records", "report": [lines], "window"?: {"afterIcount", "beforeIcount", "end"}, "debugIcount"?}` },
  },
  more: `Compares two traces record by record. Prints "identical (N records)" and exits 0, or
prints the first divergence (icount, pc, the instruction, each differing register as
expected/got, the memory digest) and exits 1. a is "expected", b "got".

Traces of FT hosts (ftvm primary/backup --trace, ftvm ft --trace-dir) are aligned by
icount first: only the instructions both hosts executed as one history are compared,
from the later start (a backup cloned mid-run) to where one of them went live (the old
primary's trace may go on with instructions that never reached its backup), and the
answer is "identical through icount N, where ... went live (epoch E)" or the first
divergence. With a directory, every pair of traces in it is compared (exit 1 if any
pair diverges).

With --log RUN.ftlog, a divergence between two records is narrowed to the instruction:
both machines re-execute the log from the last common record in lockstep (the reference
interpreter and the compiled engine), and the report names the first instruction whose
result differs, or that reads an input the log does not have there (a host that read
RAND without logging it), with each register and memory range as expected/got; or it
says which trace the program and the log reproduce. See docs/comparing.md.`,
  run(values, [action, pa, pb]) {
    if (action !== "diff") throw new UsageError(`trace takes the action diff, got "${action}"; see ftvm trace --help`);
    const json = values.json === true;
    if (pb === undefined && values.log !== undefined) throw new UsageError("--log re-executes where two traces differ: give two trace files (ftvm trace diff a.trace b.trace --log RUN.ftlog)");
    if (pb === undefined) return diffDir(pa, json);
    const res = diffFiles(pa, pb);
    if (typeof values.log === "string" && !res.identical) res.report.push(...exactInstruction(values.log, pa, res));
    if (json) process.stdout.write(JSON.stringify(jsonOf(pa, pb, res)) + "\n");
    else {
      process.stdout.write(res.report.join("\n") + "\n");
      if (res.debugIcount !== undefined) process.stdout.write(`  to step through it: ftvm debug RUN.ftlog --goto ${res.debugIcount}   (RUN.ftlog: the log of the recorded run)\n`);
    }
    return res.identical ? EXIT_OK : EXIT_FAIL;
  },
});

function diffFiles(pa: string, pb: string): AlignedDiff {
  const a = openTrace(pa);
  const b = openTrace(pb);
  const image = decodeImage(a.header.image, `${pa} (program image)`);
  // Each pass reads the file again from its start (aligning needs a first pass).
  let firstA: Iterator<TraceRecord> | undefined = a.records;
  let firstB: Iterator<TraceRecord> | undefined = b.records;
  const again = (path: string, first: () => Iterator<TraceRecord> | undefined) => () => first() ?? openTrace(path).records;
  return diffAligned(a.header, b.header, again(pa, () => [firstA, (firstA = undefined)][0]), again(pb, () => [firstB, (firstB = undefined)][0]), {
    disasm: (pc) => instructionAt(image, pc),
    nameA: pa,
    nameB: pb,
  });
}

function diffDir(dir: string, json: boolean): number {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory; give a directory or two trace files`);
    names = readdirSync(dir).filter((n) => n.endsWith(".trace")).sort();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${dir}: ${(e as Error).message}`);
  }
  if (names.length < 2) throw new UsageError(`${dir} holds ${names.length} trace${names.length === 1 ? "" : "s"} (*.trace); need two or more to compare`);
  if (names.length > DIR_TRACES_MAX) throw new UsageError(`${dir} holds ${names.length} traces; at most ${DIR_TRACES_MAX} are compared pairwise`);
  // Earlier starts first, and primaries before backups: "expected" is the one that led.
  const traces = names.map((n) => ({ path: join(dir, n), header: openTrace(join(dir, n)).header }));
  traces.sort((x, y) => start(x.header) - start(y.header) || rank(x.header) - rank(y.header) || x.path.localeCompare(y.path));
  let diverged = 0;
  let compared = 0;
  for (let i = 0; i < traces.length; i++)
    for (let j = i + 1; j < traces.length; j++) {
      const a = traces[i].path;
      const b = traces[j].path;
      const res = diffFiles(a, b);
      if (res.records === 0 && res.identical && !json) continue; // nothing in common: not a pair of this history
      compared++;
      if (!res.identical) diverged++;
      if (json) process.stdout.write(JSON.stringify(jsonOf(a, b, res)) + "\n");
      else process.stdout.write(`${a} vs ${b}:\n  ${res.report.join("\n  ")}\n`);
    }
  if (!json) process.stdout.write(`${compared} pair${compared === 1 ? "" : "s"} with instructions in common compared; ${diverged === 0 ? "no divergence" : `${diverged} diverged`}\n`);
  return diverged === 0 ? EXIT_OK : EXIT_FAIL;
}

const start = (h: TraceHeader) => h.startIcount ?? 0;
const rank = (h: TraceHeader) => (h.role === "primary" || h.role === "record" ? 0 : 1);

function jsonOf(a: string, b: string, r: AlignedDiff): Record<string, unknown> {
  return {
    version: TRACE_DIFF_JSON_VERSION,
    a,
    b,
    identical: r.identical,
    records: r.records,
    report: r.report,
    ...(r.window ? { window: { afterIcount: r.window.afterIcount, beforeIcount: r.window.beforeIcount, end: r.window.end } } : {}),
    ...(r.debugIcount !== undefined ? { debugIcount: r.debugIcount } : {}),
  };
}
