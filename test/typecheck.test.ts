// The whole tree type-checks (strict TypeScript): run as a test so CI counts it.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;

describe("typescript", () => {
  it("tsc --noEmit reports no errors", () => {
    const r = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "--noEmit", "-p", ROOT], { encoding: "utf8", timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);
});
