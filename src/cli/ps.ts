// `ftvm ps`: the running `ftvm ft` clusters of this user, from their control files
// (src/host/control.ts): cluster id, program, age, and each process with its current role.
import { EXIT_OK, defineCommand } from "./args.js";
import { runningClusters } from "../host/control.js";

export const psCommand = defineCommand({
  name: "ps",
  summary: "list the running `ftvm ft` clusters, their hosts and roles",
  options: { json: { flags: "--json", help: "one JSON object per cluster and line" } },
  run(v) {
    const all = runningClusters();
    if (v.json === true) {
      for (const c of all) process.stdout.write(JSON.stringify(c) + "\n");
      return EXIT_OK;
    }
    if (all.length === 0) {
      process.stdout.write("no running cluster (start one with ftvm ft <prog>)\n");
      return EXIT_OK;
    }
    for (const c of all) {
      const age = Math.max(0, Math.round((Date.now() - c.startedAtMs) / 1000));
      process.stdout.write(`cluster ${c.cluster ?? "?"}  ${c.program}  launcher pid ${c.launcherPid}  up ${age} s\n`);
      if (c.arbiterPid !== undefined) process.stdout.write(`  arbiter  pid ${c.arbiterPid}\n`);
      for (const h of c.hosts) process.stdout.write(`  ${h.role.padEnd(8)} pid ${h.pid}  epoch ${h.epoch}  icount ${h.icount.toLocaleString("en-US")}\n`);
    }
    return EXIT_OK;
  },
});
