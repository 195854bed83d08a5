// The deterministic layers must not reach the outside world (DESIGN.md): anything that
// could differ between two hosts crosses the environment interface and is logged. This
// test fails the build when a forbidden name appears in those layers' code.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;
const PURE = ["src/vm", "src/devices", "src/replay", "src/trace", "src/ft", "src/sim", "src/net"];

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, "Date (a clock)"],
  [/\bperformance\b/, "performance (a clock)"],
  [/\bMath\.random\b/, "Math.random"],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, "timers"],
  [/\bprocess\b/, "process state"],
  [/\bcrypto\b/, "crypto (randomness)"],
  [/from\s+["'](node:)?(fs|fs\/promises|net|http|https|dgram|child_process|os|perf_hooks|worker_threads|crypto|tls|readline)["']/, "a Node I/O module"],
  [/\brequire\s*\(/, "require()"],
  [/\bawait\b|\basync\b/, "async code (the core is synchronous)"],
];

function files(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Drops comments and string contents so prose like "the date" does not count. */
function codeOnly(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1")
    .replace(/`(?:\\.|[^`\\])*`/g, "``")
    .replace(/"(?:\\.|[^"\\\n])*"/g, (m) => (/^"(node:)?[a-z/_]+"$/.test(m) ? m : '""'));
}

describe("determinism", () => {
  const all = PURE.flatMap((d) => files(join(ROOT, d)));

  it("finds the layers' sources", () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it("nothing under src/vm, src/devices, src/replay, src/trace, src/ft or src/sim reads a clock, randomness, files, sockets, timers or process state", () => {
    const hits: string[] = [];
    for (const f of all) {
      const lines = codeOnly(readFileSync(f, "utf8")).split("\n");
      lines.forEach((line, i) => {
        for (const [re, what] of FORBIDDEN) if (re.test(line)) hits.push(`${f.slice(ROOT.length)}:${i + 1}: ${what}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it("the check itself catches a forbidden use", () => {
    const sample = codeOnly('const t = Date.now(); // a clock\nimport { readFileSync } from "node:fs";\n');
    expect(FORBIDDEN.filter(([re]) => re.test(sample)).map(([, w]) => w)).toEqual(["Date (a clock)", "a Node I/O module"]);
  });
});
