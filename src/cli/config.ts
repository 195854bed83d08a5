// The --config JSON file of the FT commands (arbiter, primary, backup, switch), read
// strictly: a map from option names (as on the command line, or in camelCase) to strings
// or numbers. A key that is no option of the command is refused with the nearest option
// name ("arbitr": did you mean "arbiter"?), never ignored: an ignored typo runs a host
// with a default the user meant to change. Errors name the byte offset in the file.
import { jsonErrorOffset } from "../arbiter/state-shape.js";
import { UsageError } from "./args.js";

/** Config files larger than this are refused (options are a few hundred bytes). */
export const CONFIG_BYTES_MAX = 64 * 1024;

type Spec = Record<string, { type: "string" | "boolean" }>;

/** Options a config file may not set: the file itself, and help. */
const NOT_IN_CONFIG = new Set(["config", "help"]);

/** Parses and checks a config file's text against a command's options: option name → value as a string. */
export function parseConfig(text: string, file: string, spec: Spec): Map<string, string> {
  const where = (key: string) => {
    const at = text.indexOf(JSON.stringify(key));
    return at < 0 ? "" : ` at byte offset ${Buffer.byteLength(text.slice(0, at))}`;
  };
  if (Buffer.byteLength(text) > CONFIG_BYTES_MAX) throw new UsageError(`--config ${file}: larger than ${CONFIG_BYTES_MAX} bytes; expected a small JSON map of options`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${file}: invalid JSON at byte offset ${jsonErrorOffset(e as Error, text)} (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new UsageError(`--config ${file}: expected a JSON map of option names to values, got ${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value}`);
  const settable = Object.keys(spec).filter((k) => spec[k].type === "string" && !NOT_IN_CONFIG.has(k));
  const out = new Map<string, string>();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (spec[name]?.type === "boolean" && !NOT_IN_CONFIG.has(name))
      throw new UsageError(`--config ${file}: "${key}"${where(key)} is a switch; give it on the command line as --${name}`);
    if (!settable.includes(name)) {
      const near = nearest(name, settable);
      throw new UsageError(`--config ${file}: unknown option "${key}"${where(key)}${near ? `; did you mean "${near}"?` : ""} (options: ${settable.join(", ")})`);
    }
    if (out.has(name)) throw new UsageError(`--config ${file}: option "${name}" is given twice${where(key)}`);
    if (typeof v === "string") out.set(name, v);
    else if (typeof v === "number" && Number.isFinite(v)) out.set(name, String(v));
    else throw new UsageError(`--config ${file}: option "${key}"${where(key)} should be a string or a number, got ${v === null ? "null" : Array.isArray(v) ? "a list" : typeof v}`);
  }
  return out;
}

/** The option closest to `name` by edit distance, when it is close enough to be a typo. */
function nearest(name: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = editDistance(name, o);
    if (d < bestD) [best, bestD] = [o, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
