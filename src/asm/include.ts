// Finding `.include`d files: first next to the including file, then in the include
// directories (by default the repository's programs/lib).
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, type Stats } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package root: the nearest directory above this module with a package.json that
 * names a package (src/asm in the source tree, dist/src/asm in a packed package with
 * precompiled JavaScript); from a checkout's compile cache (node_modules/.cache/ftvm/KEY,
 * see src/host/compile-cache.mjs), the checkout its package.json names.
 */
export const REPO_ROOT = packageRoot(fileURLToPath(new URL(".", import.meta.url)));

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      const found = packageDirOf(pj, dir);
      if (found !== undefined) return found;
    }
    if (dirname(dir) === dir) return fileURLToPath(new URL("../../", import.meta.url));
  }
}

/** `dir` if its package.json names a package; the checkout a compile cache's package.json points to; else undefined. */
function packageDirOf(path: string, dir: string): string | undefined {
  try {
    const pj = JSON.parse(readFileSync(path, "utf8")) as { name?: unknown; ftvmPackageDir?: unknown };
    if (typeof pj.ftvmPackageDir === "string") return pj.ftvmPackageDir;
    return typeof pj.name === "string" ? dir : undefined;
  } catch {
    return undefined;
  }
}
/** The shared assembly library that `.include "name.s"` falls back to. */
export const LIB_DIR = join(REPO_ROOT, "programs", "lib");

export type ReadFile = (path: string) => string;

/** The largest source file the assembler reads (the main file or an include). */
export const SOURCE_FILE_BYTES_MAX = 16 * 1024 * 1024;
/** All source files of one assembly together. */
export const SOURCE_BYTES_MAX = 64 * 1024 * 1024;

/**
 * A file that exists but is not read as source: a device, a FIFO or a socket (reading
 * /dev/zero would never end, a FIFO would block), or one larger than SOURCE_FILE_BYTES_MAX.
 * Unlike a missing file, the include search does not go on past it.
 */
export class SourceRefused extends Error {}

function kindOf(st: Stats): string {
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Reads a source file as UTF-8, refusing anything but a regular file of at most
 * SOURCE_FILE_BYTES_MAX bytes before reading a byte of it. The file is opened without
 * blocking (opening a FIFO would otherwise wait for a writer) and checked on the open
 * descriptor, so it cannot be swapped between the check and the read. A directory reads
 * as missing, so the include search goes on to the next directory.
 */
export const readFileUtf8: ReadFile = (path) => {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: ${path} is a directory`), { code: "EISDIR" });
    if (!st.isFile()) throw new SourceRefused(`it is ${kindOf(st)}, not a regular file`);
    if (st.size > SOURCE_FILE_BYTES_MAX) throw new SourceRefused(`it has ${st.size} bytes, more than the ${SOURCE_FILE_BYTES_MAX}-byte limit for a source file`);
    // Read at most one byte past the limit: a file that grew since fstat() is caught, not read on.
    const buf = Buffer.alloc(Math.min(st.size + 1, SOURCE_FILE_BYTES_MAX + 1));
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      n += got;
      if (got === 0 || n === buf.length) break;
    }
    if (n > st.size) throw new SourceRefused(`it grew while it was read (from ${st.size} bytes)`);
    return buf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
};

/** A source file: how messages name it, how to open it, and its identity for include-once. */
export interface SourceFile {
  readonly display: string;
  readonly path: string;
  readonly key: string;
}

export function sourceFile(display: string, path: string): SourceFile {
  return { display, path, key: resolve(path) };
}

/** Names a file found in an absolute include directory relative to the working directory when it lies below it. */
function friendly(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/**
 * Looks for `name` as included from `from`. Returns the file and its text, or the list of
 * places searched (for the error message) when no candidate could be read.
 */
export function findInclude(
  name: string,
  from: SourceFile,
  includeDirs: readonly string[],
  read: ReadFile,
): { file: SourceFile; text: string } | { searched: string[] } | { refused: string; display: string } {
  const candidates: { display: string; path: string }[] = [];
  if (isAbsolute(name)) candidates.push({ display: name, path: name });
  else {
    candidates.push({ display: join(dirname(from.display), name), path: join(dirname(from.path), name) });
    for (const dir of includeDirs) {
      const path = join(dir, name);
      candidates.push({ display: isAbsolute(dir) ? friendly(path) : path, path });
    }
  }
  for (const c of candidates) {
    let text: string;
    try {
      text = read(c.path);
    } catch (e) {
      if (e instanceof SourceRefused) return { refused: e.message, display: c.display };
      continue; // Missing or unreadable: try the next directory, as a C preprocessor does.
    }
    return { file: sourceFile(c.display, c.path), text };
  }
  return { searched: candidates.map((c) => c.display) };
}
