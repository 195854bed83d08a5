// Arguments of the tools in tools/load: `--name value` pairs of known names only, and
// --help. A misspelt flag is refused rather than ignored: these tools run for minutes
// with their defaults otherwise, and `--help` used to start a full run.

/**
 * Checks process.argv against `known` (flag names without "--"): prints `usage` and exits
 * 0 on --help or -h, exits 2 naming the first unknown argument or a flag without a value.
 * Returns the flag's value (or `dflt`) by name.
 */
export function toolArgs(tool: string, usage: string, known: readonly string[]): (name: string, dflt: string) => string {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`usage: ${usage}\n`);
    process.exit(0);
  }
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : undefined;
    if (name === undefined || !known.includes(name)) {
      process.stderr.write(`${tool}: unknown argument "${argv[i]}"\nusage: ${usage}\n`);
      process.exit(2);
    }
    if (argv[i + 1] === undefined) {
      process.stderr.write(`${tool}: --${name} needs a value\nusage: ${usage}\n`);
      process.exit(2);
    }
    values.set(name, argv[i + 1]);
  }
  return (name, dflt) => values.get(name) ?? dflt;
}
