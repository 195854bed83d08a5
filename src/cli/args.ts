// One source of truth for the ftvm command line: each command is a table of options
// (flags, help, value parser, default, environment variable, choices), and commander
// builds both the parser and every --help from it. Commander was chosen because it
// generates help from the same definitions it parses with, suggests the nearest command
// or option after a typo ("did you mean --mem?"), reads environment variables (.env) and
// checks choices (.choices), and shows defaults and env names in the help. Adding an
// option is one entry in a command's table.
//
// Units, everywhere: sizes are bytes with binary suffixes (4096, 64KiB, 16MiB, 1GiB);
// counts are plain integers (1000000, 1_000_000, 1e6) or take an explicit decimal suffix
// (k = 1,000, M = 1,000,000, G = 1,000,000,000); times are integers in ms, named *-ms.
import { readRegularFile } from "../base/read-file.js";
import { Command as Commander, CommanderError, Option } from "commander";
import { OperatingError } from "../base/errors.js";

export const EXIT_OK = 0;
/** The guest trapped, or replay diverged, or traces differ. */
export const EXIT_FAIL = 1;
/** Bad command line or bad input file. */
export const EXIT_USAGE = 2;
/** Stopped by Ctrl-C (the log is still valid). */
export const EXIT_INTERRUPTED = 130;

export class UsageError extends OperatingError {}

/** A command as the dispatcher and tests see it: its name, summary, generated help, and a run on raw arguments. */
export interface Command {
  name: string;
  summary: string;
  /** The generated --help text. */
  readonly usage: string;
  /** Parses argv (the arguments after the command's name) and runs the command. */
  run(argv: string[]): Promise<number> | number;
  /** The commander command for this command (parsing and help), built from its definition. */
  commander(onDone: (code: number) => void): Commander;
}

export interface OptionDef {
  /** Commander flags: "--mem <size>", "-o, --out <file>", "--quiet", "--no-respawn". */
  flags: string;
  help: string;
  /** Turns the option's text into its value; throws a UsageError saying what it takes. */
  parse?: (text: string, flag: string) => unknown;
  /** The value when the option is not given (shown in --help). */
  default?: unknown;
  /** How the default reads in --help, when the value alone would not say it well. */
  defaultText?: string;
  /** An environment variable that sets the option when the flag is absent. */
  env?: string;
  /** The only values the option takes. */
  choices?: readonly string[];
  /** May be given more than once; the values are collected in a list. */
  repeat?: boolean;
  /** Not settable in a --config file (switches, the file itself). */
  noConfig?: boolean;
}

/** A command's options, keyed by the name of their value (commander's camelCase of the long flag). */
export type OptionDefs = Record<string, OptionDef>;

export interface CommandDef {
  name: string;
  summary: string;
  /** Positional arguments, in order: "<prog>" (required), "[file]" (optional), "<files...>". */
  args?: [string, string][];
  options: OptionDefs;
  /** Text shown after the options in --help: what the command does, in full. */
  more?: string;
  /** The command takes --config FILE: a JSON map of its options, checked against them (src/cli/config.ts). */
  config?: boolean;
  /** Every option may also come from FTVM_<OPTION NAME> in the environment (the FT roles). */
  envAll?: boolean;
  run(values: Record<string, unknown>, args: string[]): Promise<number> | number;
}

/** The environment variable of an option under envAll: --arbiter-wait-ms → FTVM_ARBITER_WAIT_MS. */
export function envName(long: string): string {
  return `FTVM_${long.replace(/^--(no-)?/, "").toUpperCase().replace(/-/g, "_")}`;
}

const CONFIG_OPTION: OptionDef = { flags: "--config <file>", help: "a JSON file with any of these options, e.g. {\"arbiter\": \"ws://...\"}; flags and environment variables win over it", noConfig: true };

/** The options of a command as commander Options, checked against their keys (one name per option). */
function commanderOptions(def: CommandDef): { key: string; o: OptionDef; opt: Option }[] {
  const all: OptionDefs = def.config ? { ...def.options, config: CONFIG_OPTION } : def.options;
  return Object.entries(all).map(([key, o]) => {
    // Commander shows a default only when it has a value; a default applied further down
    // (or one that reads better as text) is shown the same way here.
    const opt = new Option(o.flags, o.default === undefined && o.defaultText !== undefined ? `${o.help} (default: ${o.defaultText})` : o.help);
    // The key is the value's name; a --no-X beside an --X sets X too, so its key says "noX".
    const expected = opt.negate && key.startsWith("no") ? `no${opt.attributeName()[0].toUpperCase()}${opt.attributeName().slice(1)}` : opt.attributeName();
    if (expected !== key) throw new Error(`option table of ${def.name}: key "${key}" does not match ${o.flags} (${expected})`);
    const flag = opt.long ?? opt.short ?? key;
    if (o.parse) {
      const parse = o.parse;
      opt.argParser(o.repeat ? (v: string, prev: unknown) => [...((prev as unknown[] | undefined) ?? []), parse(v, flag)] : (v: string) => parse(v, flag));
    } else if (o.repeat) opt.argParser((v: string, prev: unknown) => [...((prev as string[] | undefined) ?? []), v]);
    if (o.default !== undefined) opt.default(o.default, o.defaultText);
    if (o.choices) opt.choices(o.choices);
    const env = o.env ?? (def.envAll && key !== "config" ? envName(opt.long ?? key) : undefined);
    if (env) opt.env(env);
    return { key, o, opt };
  });
}

/** Commander's own messages ("error: unknown option '--memm'\n(Did you mean --mem?)") as one line. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, "")
    .replace(/\n\(Did you mean (.*)\)\s*$/, " (did you mean $1)")
    .replace(/\s*\n\s*/g, " ")
    .trim();
}

/** Builds the commander command of a definition; its action runs the command and reports the exit code. */
function build(def: CommandDef, onDone: (code: number) => void): Commander {
  // A parent named ftvm, so that the help's usage line reads "ftvm run [options] <prog>".
  const c = new Commander(def.name)
    .description(def.summary)
    .helpOption("-h, --help", "show this help")
    .allowExcessArguments(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => undefined, writeOut: (s) => process.stdout.write(s) });
  new Commander("ftvm").addCommand(c);
  for (const [name, help] of def.args ?? []) c.argument(name, help);
  const opts = commanderOptions(def);
  for (const { opt } of opts) c.addOption(opt);
  if (def.more) c.addHelpText("after", `\n${def.more}`);
  c.action(async () => {
    const file = c.opts().config;
    if (def.config && typeof file === "string") await applyConfig(c, opts, file);
    onDone(await def.run(c.opts(), c.args));
  });
  return c;
}

/** A --config file holds a handful of settings: anything larger is not one. */
const CONFIG_BYTES_MAX = 1024 * 1024;

/** Fills options not given by flag or environment from the --config file (flags > environment > file > defaults). */
async function applyConfig(c: Commander, opts: { key: string; o: OptionDef; opt: Option }[], file: string): Promise<void> {
  let text: string;
  try {
    text = readRegularFile(file, CONFIG_BYTES_MAX, "for a --config file").toString("utf8");
  } catch (e) {
    throw new UsageError(`--config ${(e as Error).message.startsWith(file) ? "" : `${file}: `}${(e as Error).message}`);
  }
  // Loaded only when a --config is given: zod costs start-up time every other command need not pay.
  const { parseConfig } = await import("./config.js");
  const settable = opts.filter(({ key, o, opt }) => key !== "config" && !o.noConfig && !opt.isBoolean());
  const switches = opts.filter(({ opt }) => opt.isBoolean()).map(({ opt }) => opt.long!.replace(/^--(no-)?/, ""));
  const values = parseConfig(text, file, { settable: settable.map(({ opt }) => opt.long!.slice(2)), switches });
  for (const { key, o, opt } of settable) {
    const value = values.get(opt.long!.slice(2));
    if (value === undefined) continue;
    const source = c.getOptionValueSource(key);
    if (source === "cli" || source === "env") continue;
    c.setOptionValueWithSource(key, o.parse ? o.parse(value, opt.long!) : value, "config");
  }
}

/** Runs a commander command on argv, turning commander's errors into one-line usage errors and --help into exit 0. */
export async function runCommander(c: Commander, argv: string[], code: () => number, helpHint: string): Promise<number> {
  try {
    await c.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version") return EXIT_OK;
      throw new UsageError(`${oneLine(e.message)}; see ${helpHint}`);
    }
    throw e;
  }
  return code();
}

/** A command from its definition. */
export function defineCommand(def: CommandDef): Command {
  return {
    name: def.name,
    summary: def.summary,
    get usage() {
      return build(def, () => undefined).helpInformation();
    },
    commander: (onDone) => build(def, onDone),
    async run(argv) {
      let code = EXIT_OK;
      return runCommander(build(def, (c) => (code = c)), argv, () => code, `ftvm ${def.name} --help`);
    },
  };
}

/** A required option that may come from a flag, the environment or --config: checked in run (commander cannot see the config file). */
export function need<T>(values: Record<string, unknown>, key: string, flag: string): T {
  const v = values[key];
  if (v === undefined || v === "") throw new UsageError(`${flag} is required (or ${envName(flag)}, or --config)`);
  return v as T;
}

// ---- value parsers: one per unit, each says what it takes when it refuses ----

/** A count: a non-negative integer of at least `min`: 1000000, 1_000_000, 1e6, or with a decimal suffix k, M, G. */
export function count(min = 0): (text: string, flag: string) => number {
  return (text, flag) => {
    const m = /^(\d[\d_]*(?:\.\d+)?(?:e\d+)?)([kMG]?)$/.exec(text.trim());
    const mult = m ? { "": 1, k: 1e3, M: 1e6, G: 1e9 }[m[2]]! : 0;
    const n = m ? Number(m[1].replace(/_/g, "")) * mult : NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new UsageError(`${flag} takes ${min === 0 ? "a non-negative integer" : `an integer of at least ${min}`} (1000000, 1_000_000, 1e6 or 1M), got "${text}"`);
    return n;
  };
}

/** The old name of count(), for callers that parse a value themselves: undefined stays undefined. */
export function intOption(value: string | undefined, name: string, min = 0): number | undefined {
  return value === undefined ? undefined : count(min)(value, `--${name}`);
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** A size in bytes: 1048576, 64KiB, 16MiB, 1GiB (binary suffixes only: "16M" is refused with a hint). */
export function size(text: string, flag: string): number {
  const m = /^(\d[\d_]*)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    const hint = m && /^[kmg]b?$/i.test(m[2]) ? `; did you mean ${m[1]}${m[2][0].toUpperCase()}iB? (sizes take binary suffixes)` : "";
    throw new UsageError(`${flag} takes a size like 1048576, 64KiB or 16MiB, got "${text}"${hint}`);
  }
  const n = Number(m[1].replace(/_/g, "")) * unit;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag}: ${text} is too large`);
  return n;
}

/** The old name of size(), for callers that parse a value themselves. */
export function bytesOption(value: string | undefined, name: string): number | undefined {
  return value === undefined ? undefined : size(value, `--${name}`);
}

/** Checks a value but keeps its text (options the launcher passes on to hosts as text). */
export function checked(parse: (text: string, flag: string) => unknown): (text: string, flag: string) => string {
  return (text, flag) => {
    parse(text, flag);
    return text;
  };
}

/** A factor from lo to hi (a replay slowdown). */
export function factor(lo: number, hi: number): (text: string, flag: string) => number {
  return (text, flag) => {
    const f = Number(text);
    if (text.trim() === "" || !Number.isFinite(f) || f < lo || f > hi) throw new UsageError(`${flag} takes a factor from ${lo} to ${hi}, got "${text}"`);
    return f;
  };
}

/** A ws:// or wss:// URL (an arbiter, a primary, a sink): a typo fails here, not as a connection retried for ever. */
export function wsUrl(text: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${flag} takes a URL like ws://127.0.0.1:7000, got "${text}"`);
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new UsageError(`${flag} takes a ws:// or wss:// URL, got "${text}"`);
  return text;
}

/** [HOST:]PORT with a port 0..65535 (0: any free port); the host defaults to 127.0.0.1. */
export function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${flag} takes [HOST:]PORT with a port 0..65535, got "${text}"`);
  return { host: m[1]?.replace(/^\[(.*)\]$/, "$1") ?? "127.0.0.1", port };
}
