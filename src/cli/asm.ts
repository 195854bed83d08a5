// `ftvm asm` and `ftvm disasm`.
import { writeFileSync } from "node:fs";
import { EXIT_OK, defineCommand, need } from "./args.js";
import { once } from "node:events";
import { disassemblyLines } from "../asm/disasm.js";
import type { Image } from "../vm/image.js";
import { loadProgram, resolveProgram } from "../host/program.js";
import { encodeImage, instructionCount } from "../vm/image.js";

export const asmCommand = defineCommand({
  name: "asm",
  summary: "assemble a program: ftvm asm prog.s -o prog.ftb",
  args: [["<prog>", "assembly source (.s), or a bundled program's name"]],
  options: { out: { flags: "-o, --out <file>", help: "the image to write (required)" } },
  more: "Errors name file:line:col, show the line with a caret and say what was expected.",
  run(values, [prog]) {
    const out = need<string>(values, "out", "--out");
    const image = loadProgram(resolveProgram(prog));
    const bytes = encodeImage(image);
    writeFileSync(out, bytes);
    process.stderr.write(`ftvm: ${out}: ${instructionCount(image)} instructions, ${image.data.length} data bytes, ${bytes.length} bytes\n`);
    return EXIT_OK;
  },
});

export const disasmCommand = defineCommand({
  name: "disasm",
  summary: "disassemble a program: ftvm disasm prog.ftb (or prog.s)",
  args: [["<prog>", "an image (.ftb), assembly source (.s), or a bundled program's name"]],
  options: {},
  run: (_values, [prog]) => writeListing(loadProgram(resolveProgram(prog))),
});

/** Bytes of listing gathered before one write to stdout. */
const LISTING_CHUNK_CHARS = 1 << 16;

/**
 * Writes a listing as it is made, waiting whenever stdout's buffer is full: the listing of
 * the largest valid image is gigabytes, more than fits in memory as one string.
 */
async function writeListing(img: Image): Promise<number> {
  let chunk = "";
  for (const line of disassemblyLines(img)) {
    chunk += line + "\n";
    if (chunk.length < LISTING_CHUNK_CHARS) continue;
    if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
    chunk = "";
  }
  process.stdout.write(chunk);
  return EXIT_OK;
}
