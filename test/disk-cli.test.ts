// The disk end to end through the ftvm command: disk create, kvlog run and record with a
// real image file (real asynchronous file I/O), replay without the image, disk check on
// good, damaged and interrupted images, and clear errors for bad images.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DISK_READ, DISK_STATUS, DISK_WRITE, type DiskRequest } from "../src/devices/disk.js";
import { DISK_IMAGE_HEADER_BYTES, FileDisk, createDiskImage, readDiskBlocks } from "../src/host/disk.js";
import { KVLOG_MAGIC, kvChecksum } from "../src/cli/kvcheck.js";
import { ftvmArgs } from "./support/ftvm-args.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "ftvm-disk-"));
const BLOCK = 512;

function ftvm(args: string[]) {
  const r = spawnSync(process.execPath, [...ftvmArgs(), ...args], { cwd: ROOT, encoding: "utf8", input: "", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function blockAt(path: string, block: number): Uint8Array {
  const fd = openSync(path, "r");
  const b = new Uint8Array(BLOCK);
  readSync(fd, b, 0, BLOCK, DISK_IMAGE_HEADER_BYTES + block * BLOCK);
  closeSync(fd);
  return b;
}

function putBlock(path: string, block: number, bytes: Uint8Array): void {
  const fd = openSync(path, "r+");
  writeSync(fd, bytes, 0, bytes.length, DISK_IMAGE_HEADER_BYTES + block * BLOCK);
  closeSync(fd);
}

/** Rewrites the kvlog header to commit `n` records (as a run stopped early would have left it). */
function commit(path: string, n: number): void {
  const h = blockAt(path, 0);
  const w = new Uint32Array(h.buffer);
  expect(w[0]).toBe(KVLOG_MAGIC);
  w[3] = n;
  w[4] = kvChecksum(w, 0, 4);
  putBlock(path, 0, h);
}

function copy(from: string, to: string): void {
  writeFileSync(to, spawnSync("cat", [from]).stdout);
}

describe("the file back-end", () => {
  const req = (seq: number, op: number, block: number, count: number, data?: Uint8Array): DiskRequest => ({ seq, slot: seq % 8, op, block, count, addr: 0, tag: seq, data });

  it("performs requests at once but reports them later, never inside submit; close waits for them", async () => {
    const path = join(dir, "fd.img");
    createDiskImage(path, { blocks: 32, blockBytes: 128 });
    let settled = 0;
    const fd = await FileDisk.open(path, () => settled++);
    expect(fd.geometry).toEqual({ blocks: 32, blockBytes: 128 });
    const results: [number, number, Uint8Array | undefined][] = [];
    for (let i = 0; i < 8; i++) fd.submit(req(i + 1, DISK_WRITE, i * 4, 2, new Uint8Array(256).fill(i + 1)), (st, d) => results.push([i + 1, st, d]));
    expect(results).toHaveLength(0);
    expect(fd.inFlight).toBe(8);
    await fd.close();
    expect(settled).toBe(8);
    expect(results.map((r) => r[1])).toEqual(new Array(8).fill(DISK_STATUS.OK));
    expect(results.every((r) => r[2] === undefined)).toBe(true);
    const g = { blocks: 32, blockBytes: 128 };
    for (let i = 0; i < 8; i++) expect(readDiskBlocks(path, g, i * 4, 2)).toEqual(new Uint8Array(256).fill(i + 1));
    const again = await FileDisk.open(path);
    const got = await new Promise<[number, Uint8Array | undefined]>((resolve) => again.submit(req(9, DISK_READ, 5, 3), (st, d) => resolve([st, d])));
    expect(got[0]).toBe(DISK_STATUS.OK);
    expect(got[1]).toEqual(Uint8Array.from([...new Array(128).fill(2), ...new Array(128).fill(0), ...new Array(128).fill(0)]));
    await again.close();
  });

  it("reports each request at the event loop's next turn, not through the I/O thread pool, and lets the loop turn", async () => {
    const path = join(dir, "soon.img");
    createDiskImage(path, { blocks: 16, blockBytes: 512 });
    const fd = await FileDisk.open(path);
    const order: string[] = [];
    for (let i = 0; i < 8; i++) fd.submit(req(i + 1, i % 2 ? DISK_READ : DISK_WRITE, i, 1, i % 2 ? undefined : new Uint8Array(512).fill(i)), () => order.push(`done ${i + 1}`));
    order.push("submitted");
    // Not from a microtask: the event loop turns before a completion is reported (a run
    // loop woken by it has read its sockets, timers and signals meanwhile).
    await Promise.resolve();
    order.push("microtasks ran");
    // Not through the thread pool: a check-phase callback queued after the submits runs
    // after every completion was reported (fs.promises completes in a later poll phase).
    await new Promise<void>((resolve) => setImmediate(() => (order.push("next turn"), resolve())));
    expect(order).toEqual(["submitted", "microtasks ran", ...Array.from({ length: 8 }, (_, i) => `done ${i + 1}`), "next turn"]);
    await fd.close();
  });

  it("a read the file cannot satisfy completes with DISK_E_IO and keeps the reason", async () => {
    const path = join(dir, "cut.img");
    createDiskImage(path, { blocks: 8, blockBytes: 64 });
    const fd = await FileDisk.open(path);
    truncateSync(path, DISK_IMAGE_HEADER_BYTES + 64 * 6); // shrunk under the running guest
    const got = await new Promise<[number, Uint8Array | undefined]>((resolve) => fd.submit(req(1, DISK_READ, 6, 2), (st, d) => resolve([st, d])));
    expect(got).toEqual([DISK_STATUS.E_IO, undefined]);
    expect(fd.lastError?.message).toMatch(/cut\.img ends inside block 6/);
    await fd.close();
  });
});

describe("ftvm disk and kvlog", () => {
  const img = join(dir, "kv.img");

  // Several ftvm processes in a row: minutes on a machine running the standard load beside other work.
  it("disk create, kvlog appends with many writes in flight, disk check counts every record", () => {
    const c = ftvm(["disk", "create", img, "--blocks", "1301", "--block-bytes", "512"]);
    expect(c.code).toBe(0);
    expect(c.err).toMatch(/created .*kv\.img: 1301 blocks of 512 bytes/);
    expect(ftvm(["disk", "check", img]).out).toMatch(/1301 blocks of 512 bytes; 0 valid records \(no header yet\)/);

    const r1 = ftvm(["run", "programs/kvlog.s", "--disk", img]);
    expect(r1.code).toBe(0);
    const lines = r1.out.trimEnd().split("\n");
    expect(lines[0]).toBe("kvlog: 0 records in the log, appending 1000");
    expect(lines.slice(1, 11)).toEqual(Array.from({ length: 10 }, (_, i) => `kvlog: ${(i + 1) * 100} records on disk`));
    expect(lines.at(-1)).toBe("kvlog: appended 1000 records; the log holds 1000");
    const k1 = ftvm(["disk", "check", img]);
    expect(k1.code).toBe(0);
    expect(k1.out).toMatch(/1000 valid records \(the header commits 1000\)/);

    // A second run reads the header and appends after it, until the disk is full.
    const r2 = ftvm(["run", "programs/kvlog.s", "--disk", img]);
    expect(r2.code).toBe(0);
    expect(r2.out).toMatch(/^kvlog: 1000 records in the log, appending 300\n/);
    expect(r2.out).toMatch(/kvlog: appended 300 records; the log holds 1300\n$/);
    expect(ftvm(["disk", "check", img]).out).toMatch(/1300 valid records \(the header commits 1300\)/);
    const r3 = ftvm(["run", "programs/kvlog.s", "--disk", img]);
    expect(r3.out).toBe("kvlog: the disk is full\n");
  }, 180_000);

  it("record with a disk, then replay without the image: same output, every completion in step", () => {
    const rimg = join(dir, "rec.img");
    const log = join(dir, "kv.ftlog");
    expect(ftvm(["disk", "create", rimg, "--blocks", "401", "--block-bytes", "1KiB"]).code).toBe(0);
    // Some records exist already, so the run reads a real header from the file.
    expect(ftvm(["run", "programs/kvlog.s", "--disk", rimg]).code).toBe(0);
    expect(ftvm(["disk", "check", rimg]).out).toMatch(/400 valid records/);
    commit(rimg, 150);
    const rec = ftvm(["record", "programs/kvlog.s", "--disk", rimg, "-o", log]);
    expect(rec.code).toBe(0);
    expect(rec.out).toMatch(/^kvlog: 150 records in the log, appending 250\n/);
    rmSync(rimg);
    const rep = ftvm(["replay", log]);
    expect(rep.code).toBe(0);
    expect(rep.out).toBe(rec.out);
    expect(rep.err).toMatch(/replay matched the recording/);
  });

  it("a read-heavy recording (64 KiB per completion, 6 MiB of read data in the log) replays without the image", () => {
    const prog = join(dir, "reads.s");
    writeFileSync(
      prog,
      `.include "disk.s"
      .code
      main:
          SETVEC VEC_DISK, on_disk
          LI r1, 1
          OUT DISK_CTRL, r1
          LI r7, 100
      again:
          LI r1, DISK_READ
          ANDI r2, r7, 3
          LI r3, 128
          LI r4, 0x10000
          MOV r5, r7
          CALL disk_start
          BLT r1, r0, fail
          EI
          WFI
          LDW r1, [0x10000]
          ADD r8, r8, r1
          ADDI r7, r7, -1
          BNEZ r7, again
          MOV r1, r8
          CALL print_uint
          HALT
      fail:
          HALT
      on_disk:
          IN r1, DISK_DONE
          IRET
      .include "printnum.s"`,
    );
    const big = join(dir, "big.img");
    const log = join(dir, "reads.ftlog");
    expect(ftvm(["disk", "create", big, "--blocks", "256"]).code).toBe(0);
    putBlock(big, 0, new Uint8Array(BLOCK).fill(1));
    const rec = ftvm(["record", prog, "--disk", big, "-o", log]);
    expect(rec.code).toBe(0);
    expect(rec.out).toBe(String(25 * 0x01010101));
    rmSync(big);
    const rep = ftvm(["replay", log]);
    expect(rep.err).toMatch(/replay matched the recording: 102 events/);
    expect(rep.out).toBe(rec.out);
  });

  it("disk check finds a damaged record, and accepts records past the prefix only within one window of writes", () => {
    const good = join(dir, "good.img");
    expect(ftvm(["disk", "create", good, "--blocks", "301"]).code).toBe(0);
    expect(ftvm(["run", "programs/kvlog.s", "--disk", good]).code).toBe(0);

    // One flipped bit in record 120: the header commits 300, the prefix ends at 120.
    const bad = join(dir, "bad.img");
    copy(good, bad);
    const b = blockAt(bad, 121);
    b[40] ^= 1;
    putBlock(bad, 121, b);
    const k = ftvm(["disk", "check", bad]);
    expect(k.code).toBe(1);
    expect(k.out).toMatch(/120 valid records/);
    expect(k.out).toMatch(/BAD: 173 valid records lie too far past record 120, which is not valid, to have been in flight with it \(record 127 is the first\): a hole in the log/);
    expect(k.out).toMatch(/BAD: the header commits 300 records but only 120 form a valid prefix/);

    // A run stopped with writes in flight: header at 290, record 293 never written, 294..299 were.
    const cut = join(dir, "cut.img");
    copy(good, cut);
    commit(cut, 290);
    putBlock(cut, 294, new Uint8Array(BLOCK));
    const ok = ftvm(["disk", "check", cut]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/293 valid records \(the header commits 290\)/);
    expect(ok.out).toMatch(/6 valid records past the prefix \(writes in flight when a run stopped\): 294, 295, 296, 297, 298, 299/);

    // The same with record 290 missing: kvlog never has 297..299 in flight together with it.
    const hole = join(dir, "hole.img");
    copy(good, hole);
    commit(hole, 290);
    putBlock(hole, 291, new Uint8Array(BLOCK));
    const h = ftvm(["disk", "check", hole]);
    expect(h.code).toBe(1);
    expect(h.out).toMatch(/BAD: 3 valid records lie too far past record 290.*\(record 297 is the first\)/);
    expect(h.out).not.toMatch(/header commits 290 records but/);

    // Block 0 overwritten: not a kvlog image; kvlog refuses to write to it.
    const alien = join(dir, "alien.img");
    copy(good, alien);
    putBlock(alien, 0, new Uint8Array(BLOCK).fill(7));
    expect(ftvm(["disk", "check", alien]).out).toMatch(/BAD: block 0 is not a valid kvlog header/);
    expect(ftvm(["run", "programs/kvlog.s", "--disk", alien]).out).toBe("kvlog: block 0 is not a kvlog header; refusing to write\n");
  });

  // Several ftvm processes in a row: minutes on a machine running the standard load beside other work.
  it("SIGKILL at random moments mid-run leaves an image disk check accepts, holding every committed record; the next run goes on", async () => {
    const kimg = join(dir, "kill.img");
    expect(ftvm(["disk", "create", kimg, "--blocks", "4001"]).code).toBe(0);
    let last = 0;
    let midRun = 0;
    for (const extraMs of [0, 7, 23, 45]) {
      // Killed once it reports progress (so mid-run, with writes in flight), after extraMs more.
      const printed = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [...ftvmArgs(), "run", "programs/kvlog.s", "--disk", kimg], { cwd: ROOT });
        let out = "";
        let killed = false;
        child.stdout.setEncoding("utf8").on("data", (s: string) => {
          out += s;
          if (!killed && / records on disk\n/.test(out)) {
            killed = true;
            setTimeout(() => child.kill("SIGKILL"), extraMs);
          }
        });
        child.on("error", reject);
        child.on("close", () => resolve(out));
      });
      expect(printed).toMatch(/records on disk/);
      if (!/appended/.test(printed)) midRun++;
      const k = ftvm(["disk", "check", kimg]);
      expect(k.code, k.out).toBe(0);
      const m = /; (\d+) valid records \(the header commits (\d+)\)/.exec(k.out)!;
      const valid = Number(m[1]);
      const committed = Number(m[2]);
      // Every record the guest had seen complete before its last progress line is there.
      const seen = Math.max(...[...printed.matchAll(/kvlog: (\d+) records on disk/g)].map((x) => Number(x[1])));
      expect(valid).toBeGreaterThanOrEqual(Math.max(seen, committed, last));
      last = committed;
    }
    expect(midRun).toBeGreaterThanOrEqual(2);
    // A clean run after the kills appends after the committed count and leaves a good log.
    const r = ftvm(["run", "programs/kvlog.s", "--disk", kimg]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^kvlog: ${last} records in the log, appending 1000\n`));
    const k = ftvm(["disk", "check", kimg]);
    expect(k.code).toBe(0);
    expect(k.out).toMatch(new RegExp(`; ${last + 1000} valid records \\(the header commits ${last + 1000}\\)`));
  }, 180_000);

  it("clear errors (exit 2) for a missing, short or foreign image and bad geometry", () => {
    const missing = ftvm(["run", "programs/kvlog.s", "--disk", join(dir, "nope.img")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/ENOENT: no such file or directory, open '.*nope\.img'/);
    const short = join(dir, "short.img");
    expect(ftvm(["disk", "create", short, "--blocks", "10"]).code).toBe(0);
    truncateSync(short, 2000);
    const s = ftvm(["run", "programs/kvlog.s", "--disk", short]);
    expect(s.code).toBe(2);
    expect(s.err).toMatch(/short\.img is short: 2000 bytes, but 10 blocks of 512 bytes need 5632 \(the image was truncated\)/);
    expect(ftvm(["disk", "check", short]).code).toBe(2);
    const notImg = ftvm(["run", "programs/kvlog.s", "--disk", join(ROOT, "package.json")]);
    expect(notImg.code).toBe(2);
    expect(notImg.err).toMatch(/is not an ftvm disk image \(make one with ftvm disk create\)/);
    const noBlocks = ftvm(["disk", "create", join(dir, "x.img")]);
    expect(noBlocks.code).toBe(2);
    expect(noBlocks.err).toMatch(/disk create needs --blocks N/);
    const badSize = ftvm(["disk", "create", join(dir, "x.img"), "--blocks", "4", "--block-bytes", "100"]);
    expect(badSize.code).toBe(2);
    expect(badSize.err).toMatch(/block size 100 must be a power of two from 16 to 65536/);
    expect(ftvm(["disk", "frob", "x.img"]).err).toMatch(/unknown disk subcommand "frob"/);
    expect(ftvm(["disk", "--help"]).out).toMatch(/ftvm disk create <image> --blocks N/);
    expect(ftvm(["run", "--help"]).out).toMatch(/--disk <image>/);
    // A host's direct-read image belongs to a shared disk: alone it is a usage error.
    const readAlone = ftvm(["primary", "programs/kvlog.s", "--secret", "s", "--arbiter", "ws://127.0.0.1:1", "--disk-read-image", short]);
    expect(readAlone.code).toBe(2);
    expect(readAlone.err).toMatch(/^ftvm: --disk-read-image needs --disk-server \(it is the shared disk's image\)\n$/);
    // Without a disk, kvlog says so (every request would be refused with DISK_E_RANGE).
    expect(ftvm(["run", "programs/kvlog.s"]).out).toBe("kvlog: no disk (run with --disk IMAGE)\n");
  });
});
