// Loading a guest program: assembly source (.s) is assembled on the fly, anything else
// must be an assembled image (.ftb).
import { readFileSync } from "node:fs";
import { assembleFile } from "../asm/assembler.js";
import type { Image } from "../vm/image.js";
import { decodeImage } from "../vm/image.js";

export function loadProgram(path: string): Image {
  if (path.endsWith(".s") || path.endsWith(".asm")) return assembleFile(path);
  return decodeImage(new Uint8Array(readFileSync(path)), path);
}

