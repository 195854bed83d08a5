// How a test starts ftvm as a child process: `spawn(process.execPath, [...ftvmArgs(), "run", ...])`.
// Under `npm test` the run's precompiled JavaScript (test/support/build-dist.ts, rebuilt
// from the sources at the start of every run) starts in a tenth of the CPU that the
// TypeScript loader needs; run some other way (no FTVM_TEST_DIST), the sources go through
// tsx as before. Either way it is the checkout's current code.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The precompiled tree of this test run, if the run made one. */
export function testDist(): string | undefined {
  return process.env.FTVM_TEST_DIST || undefined;
}

/** The node arguments that run the ftvm entry (append the command and its arguments). */
export function ftvmArgs(): string[] {
  const dist = testDist();
  return dist ? [join(dist, "src/cli/main.js")] : ["--import", "tsx", join(ROOT, "src/cli/main.ts")];
}

/** The node arguments that run a tool the run also precompiled (see TOOL_FILES in build-dist.ts), e.g. "tools/flood.ts". */
export function toolArgs(file: string): string[] {
  const dist = testDist();
  return dist ? [join(dist, file.replace(/\.ts$/, ".js"))] : ["--import", "tsx", join(ROOT, file)];
}
