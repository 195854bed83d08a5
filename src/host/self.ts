// How ftvm starts more of itself (hosts, the arbiter, the tour's steps), wherever it is
// installed and whatever the current directory: the entry and the TypeScript loader are
// resolved from the package, never from the cwd. From precompiled JavaScript (a packed
// package, built by `npm pack`'s prepack script) the children run it directly, without
// the loader: they start faster. The same holds for a checkout's compile cache
// (src/host/compile-cache.mjs), which the `ftvm` executable runs from.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "../asm/include.js";

/** This module runs as precompiled JavaScript (dist/, or the compile cache) rather than TypeScript through tsx. */
const COMPILED = import.meta.url.endsWith(".js");

/** The package root (see REPO_ROOT: a checkout's compile cache is passed over). */
export const PACKAGE_DIR = REPO_ROOT;

/** The ftvm entry (src/cli/main.ts, or its compiled main.js beside this module's tree). */
export const MAIN = fileURLToPath(new URL(`../cli/main.${COMPILED ? "js" : "ts"}`, import.meta.url));

/** The compile cache's entry, once a tool running from TypeScript asked for it (see childrenFromCompileCache). */
let cachedMain: string | undefined;

/**
 * From now on, start children from the checkout's compile cache (building it if needed),
 * as the `ftvm` executable does: for tools and benchmarks that run the launcher in their
 * own process through tsx, whose hosts would otherwise each load the TypeScript (about
 * 0.5 s of CPU per start, competing with the pair). False (children keep tsx) when this
 * module is already compiled, FTVM_COMPILE_CACHE=0, or the cache cannot be built.
 */
export async function childrenFromCompileCache(): Promise<boolean> {
  if (COMPILED || process.env.FTVM_COMPILE_CACHE === "0") return false;
  const { compiledMain } = await import("./compile-cache.mjs");
  cachedMain = await compiledMain(PACKAGE_DIR);
  return cachedMain !== undefined;
}

/**
 * A test run's precompiled copy of the sources (test/support/build-dist.ts), which a
 * launcher running from TypeScript inside the tests starts its hosts from: they start in a
 * tenth of the CPU the TypeScript loader takes. Unset outside the tests.
 */
const TEST_DIST = process.env.FTVM_TEST_DIST;

/** Node arguments that run `ftvm ARGS...` as a child process: `[...selfArgs(), "run", "hello"]`. */
export function selfArgs(): string[] {
  if (cachedMain !== undefined) return [cachedMain];
  if (COMPILED) return [MAIN];
  if (TEST_DIST) return [join(TEST_DIST, "src/cli/main.js")];
  return ["--import", import.meta.resolve("tsx"), MAIN];
}
