// --help for the benchmarks: each prints its file's opening comment (what it measures,
// how to run it, its options) and exits, instead of starting a run of minutes. A
// benchmark that takes no arguments refuses any, rather than ignoring a misspelt one.
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function benchHelp(moduleUrl: string, o: { takesArgs: boolean }): void {
  const path = fileURLToPath(moduleUrl);
  // Only the benchmark that was run answers (ft.ts imports ws-peer.ts, which has its own).
  if (!isMain(path)) return;
  const name = path.replace(/^.*\/tools\//, "tools/");
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    const header: string[] = [];
    for (const line of readFileSync(path, "utf8").split("\n")) {
      if (!line.startsWith("//")) break;
      header.push(line.replace(/^\/\/ ?/, ""));
    }
    process.stdout.write(`${name}\n\n${header.join("\n")}\n`);
    process.exit(0);
  }
  if (!o.takesArgs && argv.length > 0) {
    process.stderr.write(`${name}: takes no arguments (got "${argv[0]}"); --help says what it measures and which environment variables it reads\n`);
    process.exit(2);
  }
}

function isMain(path: string): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(path);
  } catch {
    return false;
  }
}
