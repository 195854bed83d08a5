import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Lives in test/ because the top level holds only what the project card lists.
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    // End-to-end tests start real processes; on a loaded 2-core machine they need room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
