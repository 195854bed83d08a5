// Finding `.include`d files: first next to the including file, then in the include
// directories (by default the repository's programs/lib).
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this module's own location (src/asm/ -> ../../). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The shared assembly library that `.include "name.s"` falls back to. */
export const LIB_DIR = join(REPO_ROOT, "programs", "lib");

export type ReadFile = (path: string) => string;

export const readFileUtf8: ReadFile = (path) => readFileSync(path, "utf8");

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
): { file: SourceFile; text: string } | { searched: string[] } {
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
    } catch {
      continue; // Missing or unreadable: try the next directory, as a C preprocessor does.
    }
    return { file: sourceFile(c.display, c.path), text };
  }
  return { searched: candidates.map((c) => c.display) };
}
