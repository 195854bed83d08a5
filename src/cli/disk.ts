// `ftvm disk create` and `ftvm disk check`: make an image, verify a kvlog image.
import type { Command } from "./args.js";
import { EXIT_FAIL, EXIT_OK, UsageError, bytesOption, intOption, parse } from "./args.js";
import { createDiskImage } from "../host/disk.js";
import { checkKvImage } from "./kvcheck.js";

const USAGE = `usage: ftvm disk create <image> --blocks N [--block-bytes B]
       ftvm disk check <image>

  create   make a disk image of N zeroed blocks of B bytes (default 512; a power of two
           from 16 to 64KiB); attach it with ftvm run|record --disk <image>
  check    verify an image written by programs/kvlog.s: every record's checksum, records
           forming a prefix without holes; prints how many records are valid (exit 1 when
           the image is bad)`;

export const diskCommand: Command = {
  name: "disk",
  summary: "make a disk image, or check one written by programs/kvlog.s",
  usage: USAGE,
  run(argv) {
    const { values, positionals } = parse(argv, { blocks: { type: "string" }, "block-bytes": { type: "string" } }, USAGE);
    if (values.help) {
      process.stdout.write(USAGE + "\n");
      return EXIT_OK;
    }
    const [sub, image, ...extra] = positionals;
    if (!sub || !image || extra.length > 0) throw new UsageError(`expected a subcommand and one image\n\n${USAGE}`);
    if (sub === "create") {
      const blocks = intOption(values.blocks as string | undefined, "blocks");
      if (blocks === undefined || blocks === 0) throw new UsageError(`disk create needs --blocks N (at least 1)\n\n${USAGE}`);
      const blockBytes = bytesOption(values["block-bytes"] as string | undefined, "block-bytes") ?? 512;
      createDiskImage(image, { blocks, blockBytes });
      process.stderr.write(`ftvm: created ${image}: ${blocks} blocks of ${blockBytes} bytes\n`);
      return EXIT_OK;
    }
    if (sub === "check") {
      if (values.blocks !== undefined || values["block-bytes"] !== undefined) throw new UsageError(`disk check takes no --blocks or --block-bytes (the image says)`);
      const r = checkKvImage(image);
      const g = r.geometry;
      const what = r.empty
        ? `${r.prefix} valid records (no header yet)`
        : `${r.prefix} valid records (the header commits ${r.committed})`;
      process.stdout.write(`${image}: ${g.blocks} blocks of ${g.blockBytes} bytes; ${what}\n`);
      if (r.stray.length > 0) process.stdout.write(`${image}: ${r.stray.length} valid records past the prefix (writes in flight when a run stopped): ${r.stray.join(", ")}\n`);
      for (const p of r.problems) process.stdout.write(`${image}: BAD: ${p}\n`);
      return r.problems.length > 0 ? EXIT_FAIL : EXIT_OK;
    }
    throw new UsageError(`unknown disk subcommand "${sub}" (create or check)\n\n${USAGE}`);
  },
};
