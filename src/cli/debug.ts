// `ftvm debug`: the time-travel debugger (src/debug) on a terminal or in a script. It
// reads the log (or records a run of a program first), reads source files for listings,
// and prints the session's answers as text or as one JSON object per line.
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { OperatingError } from "../base/errors.js";
import { readRegularFile } from "../base/read-file.js";
import { EXIT_FAIL, EXIT_OK, UsageError, count, defineCommand, size } from "./args.js";
import { LIVE_OPTIONS } from "./run.js";
import { runLive } from "../host/live.js";
import { loadProgram, resolveProgram } from "../host/program.js";
import type { Session } from "../debug/session.js";
import { SNAPSHOT_BYTES_MAX_DEFAULT, SNAPSHOT_INTERVAL_ICOUNT_DEFAULT } from "../debug/snapshots.js";

/** Logs larger than this are refused (the debugger holds the whole log in memory). */
export const DEBUG_LOG_BYTES_MAX = 1024 * 1024 * 1024;
/** Source files larger than this are not read for listings. */
const SOURCE_FILE_BYTES_MAX = 4 * 1024 * 1024;
/** A script given with -x may not be longer than this. */
const SCRIPT_BYTES_MAX = 1024 * 1024;
/** Recording a program for the debugger stops here unless --max-icount says otherwise: a guest that never halts must not record forever. */
export const RECORD_ICOUNT_MAX_DEFAULT = 100_000_000;
/** Interactive history kept by readline. */
const HISTORY_LINES_MAX = 1000;
/** Commands that an empty line repeats on a terminal, as in gdb. */
const REPEATABLE = new Set(["step", "s", "si", "stepi", "next", "n", "ni", "nexti", "reverse-step", "rs", "rsi", "reverse-stepi", "reverse-next", "rn", "reverse-nexti", "continue", "c", "cont", "reverse-continue", "rc"]);

export const debugCommand = defineCommand({
  name: "debug",
  summary: "a time-travel debugger for a recorded log (steps backwards, finds when things changed)",
  args: [["<file>", "a log (.ftlog), or a program (.s, .ftb, a bundled one's name) to record first"]],
  options: {
    eval: { flags: "--eval <commands>", help: 'run these commands ("CMD; CMD") and exit (no prompt)', repeat: true },
    x: { flags: "-x <file>", help: "run the commands in FILE (one per line or separated by ;) and exit", repeat: true },
    json: { flags: "--json", help: "print each answer as one JSON object per line" },
    goto: { flags: "--goto <icount>", help: "start at this position instead of icount 0", parse: count() },
    snapshotInterval: { flags: "--snapshot-interval <n>", help: "instructions between checkpoints", parse: count(1), defaultText: String(SNAPSHOT_INTERVAL_ICOUNT_DEFAULT) },
    snapshotBytes: { flags: "--snapshot-bytes <size>", help: "memory budget for checkpoints", parse: size, defaultText: `${SNAPSHOT_BYTES_MAX_DEFAULT / 1048576}MiB` },
    interpret: { flags: "--interpret", help: "replay with the reference interpreter instead of the compiled engine" },
    maxIcount: { flags: "--max-icount <n>", help: "recording a program: stop after N instructions", parse: count(), defaultText: String(RECORD_ICOUNT_MAX_DEFAULT) },
    mem: LIVE_OPTIONS.mem,
    stack: LIVE_OPTIONS.stack,
    hostId: LIVE_OPTIONS.hostId,
    disk: LIVE_OPTIONS.disk,
    unloggedRand: LIVE_OPTIONS.unloggedRand,
    input: { flags: "--input <file>", help: "recording a program: feed FILE to the guest's console (stdin is the debugger's)" },
    save: { flags: "--save <file>", help: "recording a program: keep the recorded log in FILE" },
  },
  more: "Type help at the prompt (or --eval help) for the commands; docs/debug.md has the reference.",
  async run(values, positionals) {
    // A bundled program may be named without its path (ftvm debug hello).
    const file = resolveProgram(positionals[0]);
    const json = !!values.json;
    const scripts: string[] = [...((values.eval as string[] | undefined) ?? [])];
    for (const x of (values.x as string[] | undefined) ?? []) scripts.push(readScript(x));
    const snapshotBytes = values.snapshotBytes as number | undefined;
    const snapshotInterval = values.snapshotInterval as number | undefined;

    const isProgram = /\.(s|asm|ftb)$/.test(file);
    const recordOnly = ["maxIcount", "mem", "stack", "hostId", "disk", "unloggedRand", "input", "save"].filter((k) => values[k] !== undefined);
    if (!isProgram && recordOnly.length) throw new UsageError(`--${recordOnly[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies when debugging a program (it records a run first), not a log`);
    const bytes = isProgram ? await recordFirst(file, values) : readLog(file);
    // The debugger is loaded only when used: every other ftvm command starts without it.
    const [{ decodeDebugLog }, { Session }, { splitScript }] = await Promise.all([import("../debug/log.js"), import("../debug/session.js"), import("../debug/commands.js")]);
    const log = decodeDebugLog(bytes, file);

    const interactive = scripts.length === 0 && !!process.stdin.isTTY;
    let session: Session;
    try {
      session = new Session(log, {
        snapshotBytesMax: snapshotBytes,
        snapshotIntervalIcount: snapshotInterval,
        interpret: !!values.interpret,
        readLine: sourceReader(),
        yieldHook: interactive ? () => new Promise<void>((r) => setImmediate(r)) : undefined,
      });
    } catch (e) {
      // A header the machine cannot be built from (say, an impossible memory size).
      if (e instanceof RangeError || e instanceof OperatingError) throw new UsageError(`${file}: ${e.message}`);
      throw e;
    }
    process.stderr.write(
      `ftvm debug: ${log.header.program}: ${log.events.length} events; history from icount 0 to ${session.tl.endIcount} (${session.tl.endReason})${log.header.unloggedRand ? "; recorded with --unlogged-rand: RAND values are not in the log, the debugger makes up its own" : ""}\n`,
    );
    let failed = 0;
    const runLine = async (line: string): Promise<void> => {
      const a = await session.execute(line);
      if (!a.ok) failed++;
      if (json) process.stdout.write(JSON.stringify({ command: line, ok: a.ok, ...a.data }) + "\n");
      else {
        if (!interactive) process.stdout.write(`(ftvm) ${line}\n`);
        if (a.text.length) process.stdout.write(a.text.join("\n") + "\n");
      }
    };
    if (values.goto !== undefined) await runLine(`goto ${values.goto}`);
    if (scripts.length > 0) {
      for (const script of scripts) {
        for (const line of splitScript(script)) {
          await runLine(line);
          if (session.quit) break;
        }
        if (session.quit) break;
      }
      return failed ? EXIT_FAIL : EXIT_OK;
    }
    if (!interactive) {
      // Commands piped on stdin: a script without a terminal.
      const text = await readStdin();
      for (const line of splitScript(text)) {
        await runLine(line);
        if (session.quit) break;
      }
      return failed ? EXIT_FAIL : EXIT_OK;
    }
    await prompt(session, runLine, splitScript);
    return EXIT_OK;
  },
});

/** The interactive prompt: readline editing, history, tab completion; Ctrl-C interrupts a running command. */
async function prompt(session: Session, runLine: (line: string) => Promise<void>, splitScript: (text: string) => string[]): Promise<void> {
  const words = session.completions();
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: "(ftvm) ",
    historySize: HISTORY_LINES_MAX,
    completer: (line: string) => {
      const word = line.slice(line.lastIndexOf(" ") + 1);
      const hits = words.filter((w) => w.startsWith(word));
      return [hits.length ? hits : words, word];
    },
  });
  let running = false;
  rl.on("SIGINT", () => {
    if (running) session.tl.interrupt();
    else {
      process.stdout.write("^C (quit or Ctrl-D leaves)\n");
      rl.prompt();
    }
  });
  process.stdout.write("Type help for the commands.\n");
  rl.prompt();
  let last = "";
  for await (const raw of rl) {
    const line = raw.trim() === "" && REPEATABLE.has(last.split(/\s/)[0]) ? last : raw;
    if (line.trim() !== "") {
      last = line.trim();
      running = true;
      try {
        for (const l of splitScript(line)) await runLine(l);
      } finally {
        running = false;
      }
    }
    if (session.quit) break;
    rl.prompt();
  }
  rl.close();
}

function readLog(path: string): Uint8Array {
  return new Uint8Array(readRegularFile(path, DEBUG_LOG_BYTES_MAX, "of the debugger (DEBUG_LOG_BYTES_MAX)"));
}

function readScript(path: string): string {
  return readRegularFile(path, SCRIPT_BYTES_MAX, "of a debugger script (SCRIPT_BYTES_MAX)").toString("utf8");
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > SCRIPT_BYTES_MAX) throw new UsageError(`the commands on stdin exceed ${SCRIPT_BYTES_MAX} bytes`);
  }
  return text;
}

/** Reads source lines for listings, relative to this directory as the assembler recorded them. */
function sourceReader(): (ref: string) => string | undefined {
  const files = new Map<string, string[] | undefined>();
  return (ref) => {
    const colon = ref.lastIndexOf(":");
    const path = ref.slice(0, colon);
    const line = Number(ref.slice(colon + 1));
    if (!files.has(path)) {
      let lines: string[] | undefined;
      try {
        if (statSync(path).size <= SOURCE_FILE_BYTES_MAX) lines = readFileSync(path, "utf8").split(/\r?\n/);
      } catch {
        lines = undefined; // moved or deleted since recording: listings go without source text
      }
      files.set(path, lines);
    }
    return files.get(path)?.[line - 1];
  };
}

/** Records a run of the program into a log (a temporary file unless --save) and returns its bytes. */
async function recordFirst(program: string, values: Record<string, unknown>): Promise<Uint8Array> {
  const image = loadProgram(program);
  const dir = values.save ? undefined : mkdtempSync(join(tmpdir(), "ftvm-debug-"));
  const logPath = (values.save as string | undefined) ?? join(dir!, "run.ftlog");
  try {
    const input = values.input as string | undefined;
    if (input) statSync(input); // a missing file is reported now, not as a stream error later
    const res = await runLive({
      program,
      image,
      memBytes: values.mem as number | undefined,
      stackBytes: values.stack as number | undefined,
      maxIcount: (values.maxIcount as number | undefined) ?? RECORD_ICOUNT_MAX_DEFAULT,
      logPath,
      unloggedRand: !!values.unloggedRand,
      hostId: values.hostId as number | undefined,
      interpret: !!values.interpret,
      diskPath: values.disk as string | undefined,
      stdin: input ? (createReadStream(input) as unknown as NodeJS.ReadStream) : undefined,
      output: () => undefined,
    });
    process.stderr.write(`ftvm debug: recorded ${program}: ${res.icount} instructions, ${res.events} events, ended by ${res.reason}${values.save ? ` (log in ${logPath})` : ""}; its console output: the output command\n`);
    return readLog(logPath);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
