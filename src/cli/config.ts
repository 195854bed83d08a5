// The --config JSON file of the FT commands (arbiter, primary, backup, switch), checked
// with a schema (zod) built from the command's own option table: a map from option names
// (as on the command line, or in camelCase) to strings or numbers. A key that is no
// option of the command is refused with the nearest option name ("arbitr": did you mean
// "arbiter"?), never ignored: an ignored typo runs a host with a default the user meant
// to change. A value of the wrong type is refused with its key. Errors name the byte
// offset in the file.
import { z } from "zod";
import { jsonErrorOffset } from "../arbiter/state-shape.js";
import { UsageError } from "./args.js";

/** Config files larger than this are refused (options are a few hundred bytes). */
export const CONFIG_BYTES_MAX = 64 * 1024;

/** What a command's config file may hold: options with a value, and switches (refused: they go on the command line). */
export interface ConfigSpec {
  settable: string[];
  switches: string[];
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Parses and checks a config file's text: option name → value as text (each then goes through the option's own parser). */
export function parseConfig(text: string, file: string, spec: ConfigSpec): Map<string, string> {
  const where = (key: string) => {
    const at = text.indexOf(JSON.stringify(key));
    return at < 0 ? "" : ` at byte offset ${Buffer.byteLength(text.slice(0, at))}`;
  };
  const fail = (why: string): never => {
    throw new UsageError(`--config ${file}: ${why}`);
  };
  if (Buffer.byteLength(text) > CONFIG_BYTES_MAX) fail(`larger than ${CONFIG_BYTES_MAX} bytes; expected a small JSON map of options`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail(`invalid JSON at byte offset ${jsonErrorOffset(e as Error, text)} (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail(`expected a JSON map of option names to values, got ${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value}`);
  // Switches first: their key is known, but they belong on the command line.
  for (const key of Object.keys(value as object))
    if (spec.switches.includes(kebab(key))) fail(`"${key}"${where(key)} is a switch; give it on the command line as --${kebab(key)}`);
  const optionValue = z.union([z.string(), z.number().finite()]);
  const shape: Record<string, z.ZodTypeAny> = {};
  for (const name of spec.settable) {
    shape[name] = optionValue.optional();
    shape[camel(name)] = optionValue.optional();
  }
  const r = z.object(shape).strict().safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0];
      const near = nearest(kebab(key), spec.settable);
      fail(`unknown option "${key}"${where(key)}${near ? `; did you mean "${near}"?` : ""} (options: ${spec.settable.join(", ")})`);
    }
    const key = String(issue.path[0]);
    const v = (value as Record<string, unknown>)[key];
    fail(`option "${key}"${where(key)} should be a string or a number, got ${v === null ? "null" : Array.isArray(v) ? "a list" : typeof v}`);
  }
  const out = new Map<string, string>();
  for (const [key, v] of Object.entries(r.data as Record<string, string | number | undefined>)) {
    if (v === undefined) continue;
    const name = kebab(key);
    if (out.has(name)) fail(`option "${name}" is given twice${where(key)}`);
    out.set(name, String(v));
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
