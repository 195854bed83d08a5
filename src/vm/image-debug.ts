// The debug section of an image ({symbols, lines}), checked after it decoded: a tool that
// lists symbols or source lines (disasm, trace diff, trap reports) must be able to trust
// every entry, so anything but the shapes below is refused when the image is read.
import type { ImageSymbol } from "./image.js";

const SECTIONS: ReadonlySet<string> = new Set(["code", "data", "const"]);

/** The checked debug section, or what was expected instead. */
export function checkDebug(dbg: unknown, instructions: number): { symbols: ImageSymbol[]; lines: string[] } | string {
  if (typeof dbg !== "object" || dbg === null || Array.isArray(dbg)) return "expected a map {symbols, lines}";
  const { symbols = [], lines = [] } = dbg as { symbols?: unknown; lines?: unknown };
  if (!Array.isArray(symbols)) return "expected symbols to be a list";
  for (const [i, s] of symbols.entries()) {
    const x = s as Partial<ImageSymbol> | null;
    if (typeof x !== "object" || x === null || typeof x.name !== "string" || !Number.isSafeInteger(x.value) || typeof x.section !== "string" || !SECTIONS.has(x.section))
      return `expected symbol ${i} to be {name, value (an integer), section (code, data or const)}`;
  }
  if (!Array.isArray(lines) || !lines.every((l) => typeof l === "string")) return "expected lines to be a list of strings";
  if (lines.length > instructions) return `expected at most one source line per instruction (${instructions}), got ${lines.length}`;
  return { symbols: symbols as ImageSymbol[], lines: lines as string[] };
}
