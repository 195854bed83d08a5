// Ctrl-C while `ftvm` loads (issue 17): the executable (src/cli/ftvm.mjs) catches SIGINT
// before the TypeScript loader starts, and src/cli/early.ts takes it over without a gap:
// a Ctrl-C caught by the executable counts as the command's, and the executable's
// handler is gone once the command's own is in place.
import { afterEach, describe, expect, it, vi } from "vitest";

describe("early Ctrl-C hand-over", () => {
  afterEach(() => {
    delete (globalThis as { ftvmEarlySigint?: unknown }).ftvmEarlySigint;
    vi.resetModules();
  });

  it("a SIGINT the executable caught is kept; its handler is replaced by the command's", async () => {
    const handler = () => undefined;
    (globalThis as { ftvmEarlySigint?: unknown }).ftvmEarlySigint = { interrupted: true, handler };
    process.on("SIGINT", handler);
    const before = process.listenerCount("SIGINT");
    const { catchEarlySigint, early, releaseEarlySigint } = await import("../src/cli/early.js");
    expect(early.interrupted).toBe(false);
    catchEarlySigint();
    expect(early.interrupted).toBe(true);
    expect(process.listeners("SIGINT")).not.toContain(handler);
    expect(process.listenerCount("SIGINT")).toBe(before); // one handler for another, none lost
    releaseEarlySigint();
    expect(process.listenerCount("SIGINT")).toBe(before - 1);
  });

  it("without the executable (tests, tools): only the command's handler, nothing interrupted", async () => {
    const before = process.listenerCount("SIGINT");
    const { catchEarlySigint, early, releaseEarlySigint } = await import("../src/cli/early.js");
    catchEarlySigint();
    expect(early.interrupted).toBe(false);
    expect(process.listenerCount("SIGINT")).toBe(before + 1);
    releaseEarlySigint();
    expect(process.listenerCount("SIGINT")).toBe(before);
  });
});
