// Loading a guest program: assembly source (.s) is assembled on the fly, anything else
// must be an assembled image (.ftb). Programs bundled with ftvm are found by name from
// anywhere (`ftvm run hello`), and so are their paths inside the package
// (`programs/hello.s` from another directory), so the README's commands work wherever
// the package is installed.
import { existsSync, readdirSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import { OperatingError } from "../base/errors.js";
import { readRegularFile } from "../base/read-file.js";
import { assembleFile } from "../asm/assembler.js";
import { REPO_ROOT } from "../asm/include.js";
import type { Image } from "../vm/image.js";
import { IMAGE_BYTES_MAX, decodeImage } from "../vm/image.js";

/** The package's own directory (src/host/../.. in the source tree, dist/src/host/../../.. precompiled). */
export const PACKAGE_DIR = REPO_ROOT;
/** The bundled guest programs. */
export const PROGRAMS_DIR = join(PACKAGE_DIR, "programs");

/** The bundled programs' names (hello, ticker, ...), for messages. */
export function bundledPrograms(): string[] {
  try {
    return readdirSync(PROGRAMS_DIR)
      .filter((f) => f.endsWith(".s"))
      .map((f) => basename(f, ".s"))
      .sort();
  } catch {
    return [];
  }
}

/**
 * The file a program argument names: the path itself when it exists; else a bundled
 * program by name (hello → programs/hello.s) or by its path inside the package. A name
 * found nowhere is returned as given, so the error names what the user typed.
 */
export function resolveProgram(name: string): string {
  if (existsSync(name) || isAbsolute(name)) return name;
  const candidates = [join(PACKAGE_DIR, name), join(PROGRAMS_DIR, name), join(PROGRAMS_DIR, `${name}.s`)];
  return candidates.find((c) => existsSync(c)) ?? name;
}

export function loadProgram(path: string): Image {
  if (!existsSync(path)) throw new OperatingError(`${path}: no such file; bundled programs run by name: ${bundledPrograms().join(", ")}`);
  if (path.endsWith(".s") || path.endsWith(".asm")) return assembleFile(path);
  return decodeImage(new Uint8Array(readRegularFile(path, IMAGE_BYTES_MAX, "for a program image")), path);
}
