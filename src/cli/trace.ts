// `ftvm trace diff`.
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_OK, UsageError, parse } from "./args.js";
import { openTrace } from "../host/files.js";
import { diffTraces } from "../trace/diff.js";
import { decodeImage } from "../vm/image.js";
import { instructionAt } from "./describe.js";

export const traceCommand: Command = {
  name: "trace",
  summary: "compare execution traces: ftvm trace diff a.trace b.trace",
  usage: `usage: ftvm trace diff a.trace b.trace

Compares two traces record by record. Prints "identical (N records)" and exits 0, or
prints the first divergence (icount, pc, the instruction, each differing register as
expected/got, the memory digest) and exits 1. a.trace is "expected", b.trace "got".`,
  run(argv) {
    const { values, positionals } = parse(argv, {}, this.usage);
    if (values.help) {
      process.stdout.write(this.usage + "\n");
      return EXIT_OK;
    }
    if (positionals[0] !== "diff" || positionals.length !== 3) throw new UsageError(this.usage);
    const [, pa, pb] = positionals;
    const a = openTrace(pa);
    const b = openTrace(pb);
    const image = decodeImage(a.header.image, `${pa} (program image)`);
    const res = diffTraces(a.header, b.header, a.records, b.records, { disasm: (pc) => instructionAt(image, pc), nameA: pa, nameB: pb });
    process.stdout.write(res.report.join("\n") + "\n");
    if (res.debugIcount !== undefined) process.stdout.write(`  to step through it: ftvm debug RUN.ftlog --goto ${res.debugIcount}   (RUN.ftlog: the log of the recorded run)\n`);
    return res.identical ? EXIT_OK : EXIT_FAIL;
  },
};
