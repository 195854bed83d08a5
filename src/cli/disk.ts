// `ftvm disk create` and `ftvm disk check`: make an image, verify a kvlog image.
import { EXIT_FAIL, EXIT_OK, UsageError, count, defineCommand, size } from "./args.js";
import { createDiskImage } from "../host/disk.js";
import { checkKvImage } from "./kvcheck.js";

export const diskCommand = defineCommand({
  name: "disk",
  summary: "make a disk image, or check one written by programs/kvlog.s",
  args: [
    ["<action>", "create or check"],
    ["<image>", "the disk image file"],
  ],
  options: {
    blocks: { flags: "--blocks <n>", help: "create: the number of blocks (at least 1)", parse: count(1) },
    blockBytes: { flags: "--block-bytes <size>", help: "create: bytes per block, a power of two from 16 to 64KiB", parse: size, defaultText: "512" },
  },
  more: `  ftvm disk create <image> --blocks N [--block-bytes B]
           make a disk image of N zeroed blocks; attach it with ftvm run|record --disk <image>
  ftvm disk check <image>
           verify an image written by programs/kvlog.s: every record's checksum, records
           forming a prefix without holes; prints how many records are valid (exit 1 when
           the image is bad)`,
  run(values, [sub, image]) {
    if (sub === "create") {
      const blocks = values.blocks as number | undefined;
      if (blocks === undefined) throw new UsageError("disk create needs --blocks N (at least 1); see ftvm disk --help");
      const blockBytes = (values.blockBytes as number | undefined) ?? 512;
      createDiskImage(image, { blocks, blockBytes });
      process.stderr.write(`ftvm: created ${image}: ${blocks} blocks of ${blockBytes} bytes\n`);
      return EXIT_OK;
    }
    if (sub === "check") {
      if (values.blocks !== undefined || values.blockBytes !== undefined) throw new UsageError(`disk check takes no --blocks or --block-bytes (the image says)`);
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
    throw new UsageError(`unknown disk subcommand "${sub}" (create or check); see ftvm disk --help`);
  },
});
