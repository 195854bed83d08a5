// Regenerates the opcode and port tables in isa/README.md from isa/table.ts and
// isa/ports.ts: `npx tsx tools/gen-isa-readme.ts`. test/isa.test.ts fails when the README
// and the tables disagree.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { generatedSections, replaceSections } from "../isa/spec.js";

const path = fileURLToPath(new URL("../isa/README.md", import.meta.url));
const before = readFileSync(path, "utf8");
const after = replaceSections(before, generatedSections());
if (after !== before) {
  writeFileSync(path, after);
  console.log("isa/README.md updated");
} else console.log("isa/README.md is up to date");
