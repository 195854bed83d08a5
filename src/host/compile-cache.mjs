// A checkout runs its TypeScript through tsx, which costs every process it starts about
// half a second of CPU before it does anything (measured: `ftvm run hello` 0.6 s of user
// time through tsx, 0.1 s from JavaScript). `ftvm ft` starts five or more processes (the
// arbiter, two hosts, a standby backup, one more per failover), and on a busy 2-core
// machine those start-ups competed with the running pair: the standby's loading landed
// in the first second of every pair. So the executable compiles the sources once into a
// cache keyed by their content, and runs from there; every host, the arbiter and the
// standby then start from JavaScript too (src/host/self.ts runs children as it runs).
//
// Plain JavaScript, loaded before anything TypeScript. The compiler is esbuild (tsx's own,
// already installed: a transform per file, no bundling), so the code that runs is the same
// code tsx would have run. Anything that goes wrong here (no esbuild, a read-only
// node_modules, a syntax error in a source file) returns undefined and the caller runs
// the sources through tsx as before: the cache can make a start faster, never break it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The source folders compiled (everything the ftvm command imports lives there). */
const SOURCE_DIRS = ["src", "isa"];
/**
 * Compiled trees kept side by side (one per version of the sources): beyond this many,
 * the least recently built are removed once they are older than CACHE_ENTRY_AGE_MIN_MS
 * (a cluster still running from an older tree starts its later hosts from it).
 */
const CACHE_ENTRIES_MAX = 8;
const CACHE_ENTRY_AGE_MIN_MS = 60 * 60 * 1000;
/** A source tree larger than this is not hashed on every start (it would cost more than tsx). */
const SOURCE_BYTES_MAX = 64 * 1024 * 1024;
/** The file whose presence says a cache entry is complete (written last, before the rename). */
const COMPLETE = ".complete";

function listFiles(root, dir, out) {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) listFiles(root, rel, out);
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/**
 * The compiled entry (`.../src/cli/main.js`) for the sources under `pkgDir` as they are
 * now, compiling them first if no cache entry matches; undefined if that cannot be done.
 */
export async function compiledMain(packageDir) {
  try {
    const pkgDir = resolve(packageDir);
    const files = SOURCE_DIRS.flatMap((d) => (existsSync(join(pkgDir, d)) ? listFiles(pkgDir, d, []) : [])).sort();
    const hash = createHash("sha256");
    let bytes = 0;
    const contents = new Map();
    for (const f of files) {
      const data = readFileSync(join(pkgDir, f));
      bytes += data.length;
      if (bytes > SOURCE_BYTES_MAX) return undefined;
      contents.set(f, data);
      hash.update(f).update("\0").update(String(data.length)).update("\0").update(data);
    }
    // The compiler's version and Node's are part of the key (either may change what comes
    // out), and so is the checkout: two checkouts may share one node_modules (a symlink).
    const require = createRequire(join(pkgDir, "package.json"));
    const esbuildVersion = JSON.parse(readFileSync(require.resolve("esbuild/package.json"), "utf8")).version;
    hash.update(`esbuild ${esbuildVersion} node ${process.versions.node} in ${pkgDir}`);
    const cacheDir = join(pkgDir, "node_modules", ".cache", "ftvm");
    const dir = join(cacheDir, hash.digest("hex").slice(0, 20));
    const main = join(dir, "src", "cli", "main.js");
    if (existsSync(join(dir, COMPLETE))) return main;

    // Build beside, then rename into place: two processes that build at once both
    // succeed, and a reader never sees half a tree.
    const esbuild = await import(pathToFileURL(require.resolve("esbuild")).href);
    const tmp = `${dir}.tmp-${process.pid}`;
    try {
      await build(esbuild, pkgDir, files, contents, tmp);
    } catch (e) {
      // Nothing half-built stays behind; tsx will report what failed to compile.
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    try {
      renameSync(tmp, dir);
    } catch {
      // Another process put the same tree in place first.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, COMPLETE))) return undefined;
    }
    prune(cacheDir, dir);
    return main;
  } catch {
    return undefined;
  }
}

/** Compiles `files` (relative to pkgDir; contents already read) into `tmp`, marked complete last. */
async function build(esbuild, pkgDir, files, contents, tmp) {
  rmSync(tmp, { recursive: true, force: true });
  await Promise.all(files.map(async (f) => {
    const out = join(tmp, f);
    mkdirSync(dirname(out), { recursive: true });
    if (f.endsWith(".ts")) {
      const r = await esbuild.transform(contents.get(f).toString("utf8"), {
        loader: "ts",
        format: "esm",
        target: "node20",
        sourcefile: join(pkgDir, f),
        // With FTVM_DEBUG=1, stack traces name the TypeScript lines (main.ts turns source maps on).
        sourcemap: "inline",
        tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, verbatimModuleSyntax: false } },
      });
      writeFileSync(out.slice(0, -3) + ".js", r.code);
    } else if (!f.endsWith(".mjs")) {
      // Assets read at run time (the dashboard's page), kept at the same place.
      copyFileSync(join(pkgDir, f), out);
    }
  }));
  // Node reads .js files as ES modules only inside a "type": "module" package, and it
  // does not look past node_modules for one. This package.json has no name, and says
  // where the checkout is: the code that finds ftvm's own directory (programs/, the
  // bundled library) goes there (src/asm/include.ts).
  writeFileSync(join(tmp, "package.json"), JSON.stringify({ private: true, type: "module", ftvmPackageDir: pkgDir }) + "\n");
  writeFileSync(join(tmp, COMPLETE), "");
}

/** Removes entries beyond the CACHE_ENTRIES_MAX most recent that are old enough (never the one just made). */
function prune(cacheDir, keep) {
  try {
    const entries = readdirSync(cacheDir)
      .map((n) => join(cacheDir, n))
      .filter((p) => p !== keep)
      .map((p) => ({ p, t: statSync(p).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const e of entries.slice(CACHE_ENTRIES_MAX - 1)) {
      if (Date.now() - e.t < CACHE_ENTRY_AGE_MIN_MS) continue;
      rmSync(e.p, { recursive: true, force: true });
    }
  } catch {
    // Pruning is housekeeping: a failure leaves a few extra trees behind, nothing more.
  }
}

