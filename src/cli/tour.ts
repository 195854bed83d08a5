// `ftvm tour` (what `npm start` runs until the FT demo lands).
import type { Command } from "./args.js";
import { EXIT_OK } from "./args.js";

export const tourCommand: Command = {
  name: "tour",
  summary: "a one-minute tour: run, record, replay, trace diff, the divergence demo",
  usage: "usage: ftvm tour",
  run() {
    process.stdout.write("tour: coming\n");
    return EXIT_OK;
  },
};
