// Catches how processes end, for loops that hunt a rare failure (docs/exit70.md). Preload it
// into every Node process of a run:
//
//   NODE_OPTIONS="--require $PWD/tools/exit-watch.cjs" EXIT_WATCH_DIR=/tmp/watch npx vitest run ...
//
// Each process keeps the tail of what it wrote to stderr. On a non-zero exit (or an exit
// whose stderr mentions an internal error) it appends one JSON line (time, pid, code, argv)
// to DIR/exits.log, and for an internal error its stderr tail to DIR/stderr-PID-CODE.txt,
// with which stream an error came from and the stack of an uncaught exception: a test
// runner that dies first, or a launcher that keeps only a host's last line, would lose it.
// Plain CommonJS so that --require loads it before anything else, with no loader.
const fs = require("node:fs");
const path = require("node:path");
const { isMainThread } = require("node:worker_threads");

/** The stderr kept per process, at most (the end of it: where a failure is told). */
const TAIL_BYTES_MAX = 64 * 1024;
const INTERNAL = /internal error|InvariantError|I\/O thread failed|log front: it has/;

const dir = process.env.EXIT_WATCH_DIR;
if (dir && isMainThread) {
  let tail = "";
  const keep = (text) => {
    tail += text;
    if (tail.length > TAIL_BYTES_MAX) tail = tail.slice(-TAIL_BYTES_MAX);
  };
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    try {
      keep(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    } catch {
      // Watching must never change what the process does.
    }
    return write(chunk, ...rest);
  };
  // Which stream failed, noted without handling the error: a listener would change the outcome.
  for (const [name, stream] of [["stdout", process.stdout], ["stderr", process.stderr]]) {
    const emit = stream.emit.bind(stream);
    stream.emit = (event, ...args) => {
      if (event === "error") keep(`\nexit-watch: ${name} failed: ${args[0] && args[0].code} (parent pid ${process.ppid})\n`);
      return emit(event, ...args);
    };
  }
  // The monitor event sees an uncaught exception without handling it (a listener would keep the process alive).
  process.on("uncaughtExceptionMonitor", (e) => keep(`\nexit-watch: uncaught ${e && e.stack}\n`));
  process.on("exit", (code) => {
    const c = code ?? process.exitCode ?? 0;
    const internal = c === 70 || INTERNAL.test(tail);
    if (c === 0 && !internal) return;
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(path.join(dir, "exits.log"), JSON.stringify({ at: new Date().toISOString(), pid: process.pid, code: c, argv: process.argv.slice(1).join(" ").slice(0, 300) }) + "\n");
      if (internal) fs.writeFileSync(path.join(dir, `stderr-${process.pid}-${c}.txt`), `${process.argv.join(" ")}\n---\n${tail}`);
    } catch {
      // A full disk or a removed directory: the process ends as it would have.
    }
  });
}
