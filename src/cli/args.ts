// Shared argument handling for ftvm commands: node's util.parseArgs (no dependency
// needed for flags this simple), numbers with units checked, and usage errors that exit 2.
import { OperatingError } from "../base/errors.js";
import { parseArgs } from "node:util";

export const EXIT_OK = 0;
/** The guest trapped, or replay diverged, or traces differ. */
export const EXIT_FAIL = 1;
/** Bad command line or bad input file. */
export const EXIT_USAGE = 2;
/** Stopped by Ctrl-C (the log is still valid). */
export const EXIT_INTERRUPTED = 130;

export class UsageError extends OperatingError {}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number> | number;
}

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The options the command takes (a --config file is checked against them). */
  options: OptionSpec;
}

export function parse(argv: string[], options: OptionSpec, usage: string): Parsed {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: r.values as Parsed["values"], positionals: r.positionals, options };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

/** Parses an integer option of at least `min` (default 0); accepts 1_000_000, 1e6 and 1M/1k suffixes. */
export function intOption(value: string | undefined, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d[\d_]*(?:\.\d+)?(?:e\d+)?)([kKmMgG]?)$/.exec(value.trim());
  const mult = m ? { "": 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2]]! : 0;
  const n = m ? Number(m[1].replace(/_/g, "")) * mult : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} takes ${min === 0 ? "a non-negative integer" : `an integer of at least ${min}`}, got "${value}"`);
  return n;
}

/** Parses a byte size: 1048576, 1MiB, 64KiB, 1M. */
export function bytesOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)$/i.exec(value.trim());
  if (!m) throw new UsageError(`--${name} takes a size like 1048576, 64KiB or 16MiB, got "${value}"`);
  const unit = m[2].toLowerCase()[0] ?? "";
  const mult = unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : unit === "g" ? 1024 * 1024 * 1024 : 1;
  return Number(m[1]) * mult;
}

/** Parses a replay slowdown factor (a backup replays F times slower): 1 to 100. */
export function slowdownOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const f = Number(v);
  if (v.trim() === "" || !Number.isFinite(f) || f < 1 || f > 100) throw new UsageError(`--${name} takes a factor from 1 to 100, got "${v}"`);
  return f;
}

/** Checks a ws:// or wss:// URL option (an arbiter, a primary, a sink): a typo fails here, not as a connection retried forever. */
export function wsUrlOption(v: string | undefined, name: string): string | undefined {
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UsageError(`--${name} takes a URL like ws://127.0.0.1:7000, got "${v}"`);
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new UsageError(`--${name} takes a ws:// or wss:// URL, got "${v}"`);
  return v;
}
