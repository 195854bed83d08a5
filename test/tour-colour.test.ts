// Terminal manners of `ftvm tour` (issue 17): bold and dim only on a terminal that wants
// colour; plain text into pipes, under NO_COLOR (https://no-color.org) and on TERM=dumb.
import { afterEach, describe, expect, it } from "vitest";
import { styles } from "../src/cli/tour.js";

describe("tour styles", () => {
  const saved = { tty: process.stdout.isTTY, noColor: process.env.NO_COLOR, term: process.env.TERM };
  const restore = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  afterEach(() => {
    process.stdout.isTTY = saved.tty;
    restore("NO_COLOR", saved.noColor);
    restore("TERM", saved.term);
  });

  it("colour on a terminal; none into a pipe, under NO_COLOR or on a dumb terminal", () => {
    delete process.env.NO_COLOR;
    process.env.TERM = "xterm-256color";
    process.stdout.isTTY = true;
    expect(styles().bold("x")).toBe("\x1b[1mx\x1b[0m");
    process.env.NO_COLOR = "1";
    expect(styles().bold("x")).toBe("x");
    delete process.env.NO_COLOR;
    process.env.TERM = "dumb";
    expect(styles().dim("x")).toBe("x");
    process.env.TERM = "xterm-256color";
    process.stdout.isTTY = false;
    expect(styles().bold("x")).toBe("x");
  });
});
