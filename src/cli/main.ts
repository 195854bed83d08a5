// The entry of the ftvm command (ftvm.mjs and every test and tool run this file). It
// only installs the early Ctrl-C handler (src/cli/early.ts), then loads the dispatcher:
// a SIGINT while the modules load is not lost.
import { catchEarlySigint } from "./early.js";

catchEarlySigint();
// Compiled JavaScript (a checkout's compile cache carries inline source maps): a stack
// trace of a programmer error names the TypeScript lines.
if (import.meta.url.endsWith(".js")) process.setSourceMapsEnabled(true);
await import("./dispatch.js");
