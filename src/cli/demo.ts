// `ftvm demo` (what `npm start` runs): a guest under FT whose primary is killed partway
// through, on its own, then a summary a newcomer can follow: where the crash happened,
// how long detection and go-live took, and a check that the output stayed exact.
import { EXIT_FAIL, EXIT_OK, count, defineCommand } from "./args.js";
import { resolveProgram } from "../host/program.js";
import { runCluster } from "../host/launcher.js";
import { VIEW_OPTIONS, viewOptions } from "./ft.js";

export const demoCommand = defineCommand({
  name: "demo",
  summary: "the FT demo: programs/ticker.s under FT, the primary SIGKILLed halfway",
  options: {
    crashAfterMs: { flags: "--crash-after-ms <t>", help: "kill the primary T ms after the pair is formed", parse: count(), default: 1500 },
    ui: { ...VIEW_OPTIONS.ui, help: "also serve the live dashboard (the URL is printed; npm start -- --ui); the cluster starts once the page is open in a browser" },
    report: VIEW_OPTIONS.report,
  },
  more: `Runs programs/ticker.s (150 lines, one every 20 ms) under FT: an arbiter, a primary and
a backup, each its own process. The primary is killed with SIGKILL; the backup takes
over. At the end the demo checks that the ticks are exactly 1..150: no gap, no
duplicate, no going back.`,
  async run(v) {
    const crashAfterMs = v.crashAfterMs as number;
    process.stderr.write(
      `ftvm demo: programs/ticker.s under FT. Arbiter, primary and backup start as separate processes;\n` +
        `the primary will be killed with SIGKILL after ${crashAfterMs} ms. Watch the ticks: they must go on, exactly once each.\n\n`,
    );
    let text = "";
    const decoder = new TextDecoder();
    const code = await runCluster({
      program: resolveProgram("ticker"),
      crashPrimaryAfterMs: crashAfterMs,
      write: (b) => {
        text += decoder.decode(b, { stream: true });
        process.stdout.write(b);
      },
      info: (s) => process.stderr.write(s),
      ...viewOptions({ ui: v.ui, report: v.report }),
      ...(v.ui !== undefined ? { uiWaitForPage: true } : {}),
    });
    const ticks = text
      .trimEnd()
      .split("\n")
      .map((l) => Number(/^tick (\d+) of/.exec(l)?.[1]));
    const exact = ticks.length === 150 && ticks.every((t, i) => t === i + 1);
    process.stderr.write(
      exact
        ? `\nthe output stayed exact: ticks 1 to 150, each exactly once and in order, across the crash.\n`
        : `\nthe output is NOT exact: got ${ticks.length} ticks (${ticks.slice(0, 5).join(", ")}, ...)\n`,
    );
    return code === EXIT_OK && exact ? EXIT_OK : EXIT_FAIL;
  },
});
