// The entry of the ftvm command (ftvm.mjs and every test and tool run this file). It
// only installs the early Ctrl-C handler (src/cli/early.ts), then loads the dispatcher:
// a SIGINT while the modules load is not lost.
import { catchEarlySigint } from "./early.js";

catchEarlySigint();
// Compiled JavaScript (a checkout's compile cache carries inline source maps): with
// FTVM_DEBUG=1, which prints the stack trace of a programmer error, its frames name the
// TypeScript lines. Only then: reading the maps costs every start about 0.03 s of CPU.
if (import.meta.url.endsWith(".js") && process.env.FTVM_DEBUG) process.setSourceMapsEnabled(true);
await import("./dispatch.js");
