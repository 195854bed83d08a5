// Files a user names (a program, a log, a script, a --config) are read whole; a device or
// a FIFO never ends (`ftvm run /dev/zero` grew until it died), so they are refused first.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileRefused, readRegularFile } from "../src/base/read-file.js";
import { loadProgram } from "../src/host/program.js";

const dir = mkdtempSync(join(tmpdir(), "ftvm-read-file-"));

describe("readRegularFile", () => {
  it("reads a regular file whole", () => {
    writeFileSync(join(dir, "a.txt"), "hello");
    expect(readRegularFile(join(dir, "a.txt"), 5, "for a test").toString()).toBe("hello");
  });

  it("refuses a file over the bound, naming it", () => {
    writeFileSync(join(dir, "b.txt"), "123456");
    expect(() => readRegularFile(join(dir, "b.txt"), 5, "for a test")).toThrow(/it has 6 bytes, more than the 5-byte limit for a test/);
  });

  it("refuses a character device and a FIFO before reading, and says EISDIR for a directory", () => {
    expect(() => readRegularFile("/dev/zero", 1 << 20, "for a test")).toThrow(FileRefused);
    expect(() => readRegularFile("/dev/zero", 1 << 20, "for a test")).toThrow(/\/dev\/zero: it is a character device, not a regular file/);
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    expect(() => readRegularFile(fifo, 1 << 20, "for a test")).toThrow(/it is a FIFO, not a regular file/);
    expect(() => readRegularFile(dir, 1 << 20, "for a test")).toThrow(/EISDIR/);
  });

  it("a program named /dev/zero is refused with a one-line error (run, ft, record, asm, disasm all load it so)", () => {
    expect(() => loadProgram("/dev/zero")).toThrow(/^\/dev\/zero: it is a character device, not a regular file$/);
  });
});
