// How ftvm starts more of itself (hosts, the arbiter, the tour's steps), wherever it is
// installed and whatever the current directory: the entry and the TypeScript loader are
// resolved from the package, never from the cwd. From precompiled JavaScript (a packed
// package, built by `npm pack`'s prepack script) the children run it directly, without
// the loader: they start faster.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
/** This module runs as precompiled JavaScript (dist/) rather than TypeScript through tsx. */
const COMPILED = import.meta.url.endsWith(".js");

/** The package root: the nearest directory above with a package.json. */
export const PACKAGE_DIR = ((): string => {
  for (let dir = HERE; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return fileURLToPath(new URL("../..", import.meta.url));
  }
})();

/** The ftvm entry (src/cli/main.ts, or its compiled main.js beside this module's tree). */
export const MAIN = fileURLToPath(new URL(`../cli/main.${COMPILED ? "js" : "ts"}`, import.meta.url));

/**
 * A test run's precompiled copy of the sources (test/support/build-dist.ts), which a
 * launcher running from TypeScript inside the tests starts its hosts from: they start in a
 * tenth of the CPU the TypeScript loader takes. Unset outside the tests.
 */
const TEST_DIST = process.env.FTVM_TEST_DIST;

/** Node arguments that run `ftvm ARGS...` as a child process: `[...selfArgs(), "run", "hello"]`. */
export function selfArgs(): string[] {
  if (COMPILED) return [MAIN];
  if (TEST_DIST) return [join(TEST_DIST, "src/cli/main.js")];
  return ["--import", import.meta.resolve("tsx"), MAIN];
}
