// Starting a worker thread from a module beside the caller: its compiled JavaScript when
// the caller runs compiled (the compile cache, a packed package), else its TypeScript
// through tsx, which a worker must register for itself (tsx's ESM entry: its CommonJS one
// cannot register the loader from an ES module).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

/** Starts `name` (without extension) beside the module at `callerUrl` as a worker thread. */
export function startWorkerBeside(callerUrl: string, name: string, opts: WorkerOptions): Worker {
  if (callerUrl.endsWith(".js")) return new Worker(new URL(`./${name}.js`, callerUrl), opts);
  const cjs = createRequire(callerUrl).resolve("tsx/esm/api");
  const mjs = cjs.replace(/\.cjs$/, ".mjs");
  const api = pathToFileURL(existsSync(mjs) ? mjs : cjs).href;
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const boot = `import(${JSON.stringify(api)}).then((t) => { (t.register ?? t.default.register)(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...opts, eval: true });
}
