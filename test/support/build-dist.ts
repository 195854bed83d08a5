// The test run's precompiled JavaScript (vitest globalSetup). End-to-end tests start
// hundreds of ftvm processes; through the TypeScript loader (tsx) each spends about half a
// second of CPU compiling the sources before it does anything, which on a 2-core machine
// was most of the suite's time. So every run first transpiles src/ and isa/ once with
// esbuild (the compiler tsx itself uses, so the JavaScript is what tsx would have run) and
// tells the tests' spawns and the launcher where it is through FTVM_TEST_DIST (see
// test/support/ftvm-args.ts and src/host/self.ts).
//
// The build is made afresh on every run (and again before each watch-mode rerun), so a
// test always runs the sources as they are now; a build error stops the run. Each run has
// its own directory, so two runs from one checkout never rebuild under each other's
// processes; it is removed when the run ends, and leftovers of killed runs are swept at
// the next start.
//
// Where: test/.dist/run-PID/ (git-ignored) inside the package, so that
// - bare imports (commander, ws, ...) resolve through the package's node_modules;
// - the package root is still found by walking up to package.json (src/asm/include.ts,
//   src/host/self.ts), so programs/, programs/lib and package.json are the checkout's;
// - files read relative to a module still resolve: ../../programs from src/sim finds the
//   run directory's programs/, a link to the checkout's, and src/host/dashboard/'s pages
//   are copied beside the compiled modules.
// Not under node_modules/.cache: in a worktree whose node_modules is a link to another
// checkout's, Node resolves modules to their real path, which would be that other
// checkout, and its programs/ would be used instead of this one's.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { processRunning } from "../../src/host/control.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Where every run's build directory lives. */
export const DIST_PARENT = join(ROOT, "test", ".dist");
/** The directories whose TypeScript the children run (the same as tsconfig.build.json's). */
const SOURCE_DIRS = ["src", "isa"];
/** Tools that tests start as processes of their own (test/support/ftvm-args.ts toolArgs). */
const TOOL_FILES = ["tools/flood.ts"];

/** The .ts files under a directory (test files and declarations left out). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Removes the build directories of runs that ended without cleaning up (killed, crashed). */
function sweepLeftovers(): void {
  if (!existsSync(DIST_PARENT)) return;
  for (const name of readdirSync(DIST_PARENT)) {
    const m = /^run-(\d+)$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !processRunning(Number(m[1]))) rmSync(join(DIST_PARENT, name), { recursive: true, force: true });
  }
}

/**
 * Builds the TypeScript of `root`'s src/ and isa/ (and `tools`, files under root) into
 * `dir`, replacing what was there; throws with esbuild's messages on an error.
 */
export async function buildDist(dir: string, root = ROOT, tools: string[] = TOOL_FILES): Promise<void> {
  // esbuild is tsx's compiler (a dependency of tsx, which the package depends on), resolved
  // from tsx so the same copy is used whatever the hoisting.
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild") as typeof import("esbuild");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const entryPoints = [...SOURCE_DIRS.flatMap((d) => tsFiles(join(root, d))), ...tools.map((f) => join(root, f))];
  // One call, no bundling: each module becomes one .js file at the same relative path,
  // its imports (written with .js extensions, as NodeNext requires) left as they are.
  try {
    await esbuild.build({ entryPoints, outdir: dir, outbase: root, format: "esm", platform: "node", target: "node20", bundle: false, logLevel: "silent" });
  } finally {
    // esbuild's service process would otherwise stay for the whole run.
    await esbuild.stop();
  }
  // Files that modules read relative to themselves, other than TypeScript: the
  // dashboard's page, script and style, and the .mjs executable.
  for (const d of SOURCE_DIRS)
    cpSync(join(root, d), join(dir, d), { recursive: true, filter: (src) => !src.endsWith(".ts") || src.endsWith(".d.ts") });
  symlinkSync(relative(dir, join(root, "programs")), join(dir, "programs"), "dir");
}

export default async function setup(project: TestProject): Promise<() => void> {
  sweepLeftovers();
  const dir = join(DIST_PARENT, `run-${process.pid}`);
  const build = async () => {
    try {
      await buildDist(dir);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      // Loud and first: without the build no end-to-end test could run what it claims to.
      throw new Error(`ftvm test build failed (test/support/build-dist.ts): ${(e as Error).message}`);
    }
  };
  await build();
  process.env.FTVM_TEST_DIST = dir;
  project.onTestsRerun(build);
  return () => rmSync(dir, { recursive: true, force: true });
}
