// The generated parts of the spec (isa/README.md): the opcode table, the port table and
// the vector table and the device constants, each between <!-- BEGIN name --> and <!-- END name --> markers.
import { CONSTANTS, PORTS, VECTORS } from "./ports.js";
import { opcodeTableMarkdown } from "./table.js";

export function generatedSections(): Map<string, string> {
  const ports = ["| port | name | access | meaning |", "| --- | --- | --- | --- |"];
  for (const p of PORTS) ports.push(`| 0x${p.port.toString(16).padStart(2, "0")} | ${p.name} | ${p.access} | ${p.sem} |`);
  const vectors = ["| vector | name | raised when |", "| --- | --- | --- |"];
  for (const v of VECTORS) vectors.push(`| ${v.vector} | ${v.name} | ${v.sem} |`);
  const constants = ["| name | value | meaning |", "| --- | --- | --- |"];
  for (const c of CONSTANTS) constants.push(`| ${c.name} | ${c.value} | ${c.sem} |`);
  return new Map([
    ["opcodes", opcodeTableMarkdown()],
    ["ports", ports.join("\n")],
    ["vectors", vectors.join("\n")],
    ["constants", constants.join("\n")],
  ]);
}

/** Replaces each marked section's body with the generated text. */
export function replaceSections(doc: string, sections: Map<string, string>): string {
  let out = doc;
  for (const [name, body] of sections) {
    const re = new RegExp(`(<!-- BEGIN ${name} -->)[\\s\\S]*?(<!-- END ${name} -->)`);
    if (!re.test(out)) throw new Error(`isa/README.md lacks the markers for section "${name}"`);
    out = out.replace(re, (_m, a: string, b: string) => `${a}\n${body}\n${b}`);
  }
  return out;
}

/** Extracts a marked section's body. */
export function readSection(doc: string, name: string): string | undefined {
  const re = new RegExp(`<!-- BEGIN ${name} -->\\n([\\s\\S]*?)\\n<!-- END ${name} -->`);
  return re.exec(doc)?.[1];
}
