import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests in three tiers (vitest projects), so a change can be checked at the speed it needs:
//   unit  one layer at a time, in-process, seconds       npm run test:unit
//   sim   the seeded FT simulator, in-process            npm run test:sim
//   e2e   real processes, sockets and the CLI            npm run test:e2e
// `npm test` runs all three. A file is e2e if it starts processes, sim if it runs the
// simulator, unit otherwise; new files land in unit unless their name says otherwise.
const SIM = ["test/sim*.test.ts", "test/ft-keepup.test.ts"];
const E2E = [
  "test/*e2e*.test.ts",
  "test/cli.test.ts",
  "test/disk-cli.test.ts",
  "test/net-bench.test.ts",
  "test/programs.test.ts",
  "test/redis.test.ts",
  "test/typecheck.test.ts",
];

// Lives in test/ because the top level holds only what the project card lists.
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    // End-to-end tests start real processes; on a loaded 2-core machine they need room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Precompiles the sources once per run for the processes the tests start (they start
    // in a tenth of the CPU the TypeScript loader takes): test/support/build-dist.ts.
    globalSetup: ["test/support/build-dist.ts"],
    // Files in parallel, at least two at a time even on 2 cores (vitest's default there is
    // one): most of an end-to-end file's time is spent waiting on the processes it started
    // (a guest ticking for seconds, a failover's detection timeout), not computing, so a
    // second file fills that time. Each file still runs its own tests one after another.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...SIM, ...E2E] } },
      { extends: true, test: { name: "sim", include: SIM } },
      { extends: true, test: { name: "e2e", include: E2E } },
    ],
  },
});
