// `ftvm asm` and `ftvm disasm`.
import { writeFileSync } from "node:fs";
import type { Command } from "./args.js";
import { EXIT_OK, UsageError, parse } from "./args.js";
import { once } from "node:events";
import { disassemblyLines } from "../asm/disasm.js";
import type { Image } from "../vm/image.js";
import { loadProgram } from "../host/program.js";
import { encodeImage, instructionCount } from "../vm/image.js";

export const asmCommand: Command = {
  name: "asm",
  summary: "assemble a program: ftvm asm prog.s -o prog.ftb",
  usage: `usage: ftvm asm prog.s -o prog.ftb

Errors name file:line:col, show the line with a caret and say what was expected.`,
  run(argv) {
    const { values, positionals } = parse(argv, { out: { type: "string", short: "o" } }, this.usage);
    if (values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (positionals.length !== 1 || !values.out) throw new UsageError(this.usage);
    const image = loadProgram(positionals[0]);
    const bytes = encodeImage(image);
    writeFileSync(values.out as string, bytes);
    process.stderr.write(`ftvm: ${values.out}: ${instructionCount(image)} instructions, ${image.data.length} data bytes, ${bytes.length} bytes\n`);
    return EXIT_OK;
  },
};

export const disasmCommand: Command = {
  name: "disasm",
  summary: "disassemble a program: ftvm disasm prog.ftb (or prog.s)",
  usage: `usage: ftvm disasm prog.ftb`,
  async run(argv) {
    const { values, positionals } = parse(argv, {}, this.usage);
    if (values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError(this.usage);
    return writeListing(loadProgram(positionals[0]));
  },
};

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
