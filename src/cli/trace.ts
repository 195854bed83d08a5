// `ftvm trace diff`.
import { EXIT_FAIL, EXIT_OK, UsageError, defineCommand } from "./args.js";
import { openTrace } from "../host/files.js";
import { diffTraces } from "../trace/diff.js";
import { decodeImage } from "../vm/image.js";
import { instructionAt } from "./describe.js";

export const traceCommand = defineCommand({
  name: "trace",
  summary: "compare execution traces: ftvm trace diff a.trace b.trace",
  args: [
    ["<action>", "diff (the only one)"],
    ["<a>", "the expected trace"],
    ["<b>", "the trace to compare with it"],
  ],
  options: {},
  more: `Compares two traces record by record. Prints "identical (N records)" and exits 0, or
prints the first divergence (icount, pc, the instruction, each differing register as
expected/got, the memory digest) and exits 1.`,
  run(_values, [action, pa, pb]) {
    if (action !== "diff") throw new UsageError(`trace takes the action diff, got "${action}"; see ftvm trace --help`);
    const a = openTrace(pa);
    const b = openTrace(pb);
    const image = decodeImage(a.header.image, `${pa} (program image)`);
    const res = diffTraces(a.header, b.header, a.records, b.records, { disasm: (pc) => instructionAt(image, pc), nameA: pa, nameB: pb });
    process.stdout.write(res.report.join("\n") + "\n");
    if (res.debugIcount !== undefined) process.stdout.write(`  to step through it: ftvm debug RUN.ftlog --goto ${res.debugIcount}   (RUN.ftlog: the log of the recorded run)\n`);
    return res.identical ? EXIT_OK : EXIT_FAIL;
  },
});
