#!/usr/bin/env node
// The `ftvm` executable. A packed package carries precompiled JavaScript (dist/, built by
// `npm pack`'s prepack script), which starts faster; the checkout runs the TypeScript
// sources through tsx, so `npm start` and `npm test` need no build step.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

// Ctrl-C while loading is kept for the command (src/cli/early.ts takes it over): caught
// here, before anything loads, since the TypeScript loader alone takes most of a second.
const earlySigint = () => {
  globalThis.ftvmEarlySigint.interrupted = true;
};
globalThis.ftvmEarlySigint = { interrupted: false, handler: earlySigint };
process.on("SIGINT", earlySigint);

const compiled = new URL("../../dist/src/cli/main.js", import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  // A checkout: its sources compiled into node_modules/.cache/ftvm (src/host/compile-cache.mjs),
  // or through tsx when that cannot be done or FTVM_COMPILE_CACHE=0 turns it off.
  const cached = process.env.FTVM_COMPILE_CACHE === "0" ? undefined : await (await import("../host/compile-cache.mjs")).compiledMain(fileURLToPath(new URL("../..", import.meta.url)));
  if (cached) {
    await import(pathToFileURL(cached).href);
  } else {
    const { register } = await import("tsx/esm/api");
    register();
    await import("./main.ts");
  }
}
