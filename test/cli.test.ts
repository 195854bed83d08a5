// The ftvm command end to end, as a user runs it: real child processes, real files,
// exit codes as documented (0 ok, 1 divergence/trap, 2 usage or input error, 130 Ctrl-C).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ftvm-cli-"));

function ftvm(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, encoding: "utf8", input: input ?? "", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("ftvm CLI", () => {
  it("every command has --help (exit 0); no command or an unknown one is a usage error (exit 2)", () => {
    for (const c of ["run", "record", "replay", "trace", "asm", "disasm", "tour"]) {
      const r = ftvm([c, "--help"]);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(/usage: ftvm/i);
    }
    const top = ftvm(["--help"]);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/exit codes: 0 ok; 1 guest trap/i);
    expect(ftvm([]).code).toBe(2);
    const bad = ftvm(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown command ['"]frobnicate['"]/);
    expect(ftvm(["run", "programs/hello.s", "--max-icount", "lots"]).err).toMatch(/--max-icount takes a non-negative integer .*, got "lots"/);
  });

  it("assembler errors name file:line:col with a caret, exit 2", () => {
    const p = join(dir, "bad.s");
    writeFileSync(p, "main:\n    ADD r1, r16, r2\n    HALT\n");
    const r = ftvm(["run", p]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${p}:2:13: error: unknown register "r16"`);
    expect(r.err).toMatch(/\n\s+\^/);
  });

  it("asm writes an image that run and disasm accept", () => {
    const img = join(dir, "hello.ftb");
    expect(ftvm(["asm", "programs/hello.s", "-o", img]).code).toBe(0);
    expect(ftvm(["run", img]).out).toBe("hello, world\n");
    const d = ftvm(["disasm", img]);
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/HALT/);
    const notImage = ftvm(["run", join(ROOT, "package.json")]);
    expect(notImage.code).toBe(2);
    expect(notImage.err).toMatch(/not an ftvm image/);
  });

  it("record → replay → trace diff: identical; the replay prints the recorded output again", () => {
    const log = join(dir, "t.ftlog"), a = join(dir, "a.trace"), b = join(dir, "b.trace");
    const rec = ftvm(["record", "programs/timeread.s", "-o", log, "--trace", a, "--trace-interval", "50000"]);
    expect(rec.code).toBe(0);
    expect(rec.out.split("\n")).toHaveLength(11);
    const rep = ftvm(["replay", log, "--trace", b, "--trace-interval", "50000"]);
    expect(rep.code).toBe(0);
    expect(rep.out).toBe(rec.out);
    expect(rep.err).toMatch(/replay matched the recording: \d+ events/);
    expect(rep.err).not.toMatch(/replay: |\x1b/); // no progress lines when not a terminal
    const diff = ftvm(["trace", "diff", a, b]);
    expect(diff.code).toBe(0);
    expect(diff.out).toMatch(/^identical \(\d+ records\)\n$/);
  });

  it("--unlogged-rand: replay diverges (exit 1) and trace diff names the first RAND and the register", () => {
    const log = join(dir, "u.ftlog"), a = join(dir, "ua.trace"), b = join(dir, "ub.trace");
    expect(ftvm(["record", "programs/timeread.s", "-o", log, "--trace", a, "--unlogged-rand"]).code).toBe(0);
    const rep = ftvm(["replay", log, "--trace", b]);
    expect(rep.code).toBe(1);
    expect(rep.err).toMatch(/replay diverged: expected .* at icount \d+/);
    const diff = ftvm(["trace", "diff", a, b]);
    expect(diff.code).toBe(1);
    expect(diff.out).toMatch(/first divergence at record \d+, icount \d+ \(after RAND\)/);
    expect(diff.out).toMatch(/instruction: pc \d+: RAND r1/);
    expect(diff.out).toMatch(/r1: expected 0x[0-9a-f]{8} \(-?\d+\), got 0x[0-9a-f]{8}/);
    // With the log, re-execution from the last common record names the instruction that
    // read an input the log lacks: the first RAND, at its source line.
    const exact = ftvm(["trace", "diff", a, b, "--log", log]);
    expect(exact.code).toBe(1);
    const line = readFileSync(join(ROOT, "programs/timeread.s"), "utf8").split("\n").findIndex((l) => /^\s*RAND r1\b/.test(l)) + 1;
    const icount = Number(/first divergence at record \d+, icount (\d+)/.exec(diff.out)![1]);
    expect(exact.out).toContain(`the first instruction whose result differs: icount ${icount - 1} -> ${icount}, pc `);
    expect(exact.out).toMatch(new RegExp(`: RAND r1 +\\[programs/timeread\\.s:${line}\\]`));
    expect(exact.out).toMatch(/the reference interpreter stops there: expected \w+ at icount \d+, got RAND at icount \d+/);
  });

  it("a guest trap exits 1 with the trap, pc, icount and source line; its replay reproduces it", () => {
    const log = join(dir, "trap.ftlog");
    const r = ftvm(["record", "programs/traps.s", "-o", log]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/trap division-by-zero at pc \d+ \(icount \d+\): DIV .*programs\/traps\.s:\d+/);
    const rep = ftvm(["replay", log]);
    expect(rep.code).toBe(1);
    expect(rep.err).toMatch(/the guest trapped as recorded: division-by-zero/);
  });

  it("stdin feeds the console: echo upper-cases piped input and halts at EOF", () => {
    const r = ftvm(["run", "programs/echo.s"], "hello\nworld\n");
    expect(r.code).toBe(0);
    expect(r.out).toBe("HELLO\nWORLD\n");
    const log = join(dir, "echo.ftlog");
    expect(ftvm(["record", "programs/echo.s", "-o", log], "abc").code).toBe(0);
    expect(ftvm(["replay", log]).out).toBe("ABC");
  });

  it("--max-icount stops cleanly with a complete log", () => {
    const log = join(dir, "max.ftlog");
    const r = ftvm(["record", "programs/count.s", "-o", log, "--max-icount", "100k"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/stopped at --max-icount 100000/);
    const rep = ftvm(["replay", log]);
    expect(rep.code).toBe(0);
    expect(rep.out).toBe(r.out);
    expect(rep.err).toMatch(/100000 instructions, ended by max-icount/);
  });

  it("Ctrl-C stops a recording cleanly: exit 130 and a log that replays to its END mark", async () => {
    const p = join(dir, "forever.s");
    // TIME once per 1000 iterations: a modest log, so the replay below stays quick.
    writeFileSync(p, "main:\n    TIME r1\n    LI r3, 1000\nspin:\n    ADDI r3, r3, -1\n    BNEZ r3, spin\n    JMP main\n");
    const log = join(dir, "forever.ftlog");
    const child = spawn(process.execPath, [...ftvmArgs(), "record", p, "-o", log, "--no-stdin"], { cwd: ROOT });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    // Wait until the recording has begun (its log exists), however slowly the process starts on a busy machine.
    while (!existsSync(log)) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(130);
    expect(err).toMatch(/interrupted at icount \d+; recorded \d+ events .* \(a complete log\)/);
    const rep = ftvm(["replay", log]);
    expect(rep.code).toBe(0);
    expect(rep.err).toMatch(/ended by interrupted/);
    expect(readFileSync(log).length).toBeGreaterThan(100);
  });

  it("a missing file is an input error (exit 2), not a crash", () => {
    const r = ftvm(["replay", join(dir, "nope.ftlog")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/ENOENT|no such file/);
  });
});
