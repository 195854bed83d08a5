// Finding `.include`d files: first next to the including file, then in the include
// directories (by default the repository's programs/lib).
import { existsSync, readFileSync } from "node:fs";
import { FileRefused, readRegularFile } from "../base/read-file.js";
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

/**
 * Reads a source file as UTF-8, refusing anything but a regular file of at most
 * SOURCE_FILE_BYTES_MAX bytes before reading a byte of it (see readRegularFile). A
 * directory reads as missing, so the include search goes on to the next directory.
 */
export const readFileUtf8: ReadFile = (path) => {
  try {
    return readRegularFile(path, SOURCE_FILE_BYTES_MAX, "for a source file").toString("utf8");
  } catch (e) {
    // The assembler reports a refusal as "FILE: cannot read it: REASON"; the path is already there.
    if (e instanceof FileRefused) throw new SourceRefused(e.message.slice(path.length + 2));
    throw e;
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
