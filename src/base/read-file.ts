// Reading a whole file that a user named, within a bound. `readFileSync` reads until the
// end, so `/dev/zero`, `/dev/urandom` or a FIFO given as a program, a log or a script
// never returned (the process grew until it died). Here anything but a regular file is
// refused before a byte is read, and so is a file larger than the caller's bound.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { OperatingError } from "./errors.js";

/** What a file is, when it is not a regular one. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** A file refused by readRegularFile (not a regular file, too large, or growing). */
export class FileRefused extends OperatingError {}

/**
 * The contents of the regular file at `path`, of at most `bytesMax` bytes (`limitName`
 * says what the bound is for, after "limit" in the message: "for a source file"). The file is opened without blocking (opening a FIFO
 * would wait for a writer) and checked on the open descriptor, so it cannot be swapped
 * between the check and the read. A directory throws EISDIR, as readFileSync would, so
 * callers that search several places can go on.
 */
export function readRegularFile(path: string, bytesMax: number, limitName: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path} is a directory`), { code: "EISDIR" });
    if (!st.isFile()) throw new FileRefused(`${path}: it is ${fileKind(st)}, not a regular file`);
    if (st.size > bytesMax) throw new FileRefused(`${path}: it has ${st.size} bytes, more than the ${bytesMax}-byte limit ${limitName}`);
    // Read at most one byte past the size: a file that grew since fstat() is caught, not read on.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      n += got;
      if (got === 0 || n === buf.length) break;
    }
    if (n > st.size) throw new FileRefused(`${path}: it grew while it was read (from ${st.size} bytes)`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
