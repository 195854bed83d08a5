// Joining a running primary, on both sides: the joiner receives a snapshot (memory, and a
// non-shared disk's image) and restores it; the primary copies its state at an
// instruction boundary, streams it, and claims the pair's epoch. Functions over the
// node's state (see node.ts, which routes each input by role).
import { type CloneDiskMsg, type CloneMsg, ProtocolError } from "./protocol.js";
import type { TasResult } from "../arbiter/core.js";
import { DISK_STATUS } from "../devices/disk.js";
import { LOCAL_DISK_ATTEMPTS_MAX } from "./localdisk.js";
import type { Image } from "../vm/image.js";
import { decodeImage, encodeImage } from "../vm/image.js";
import { FailureDetector } from "./detector.js";
import { PrimaryLog } from "./primary.js";
import { CLONE_DISK_BYTES_MAX, CLONE_DISK_CHUNK_BYTES, CLONE_DISK_READS_IN_FLIGHT, CloneAssembler, CloneError, cloneMessages } from "./clone.js";
import { getMachineState, setMachineState, StateError } from "../vm/snapshot.js";
import { DeviceStateError } from "../devices/device.js";
import type { FtNode } from "./node.js";
import type { Msg, Action } from "./node-types.js";
import * as live from "./node-live.js";
import * as replay from "./node-replay.js";
import * as failover from "./node-failover.js";

/** A new backup starts from a running primary's snapshot: memory chunks follow, then the log. */
export function startClone(n: FtNode, m: CloneMsg, nowMs: number): Action[] {
  let c: CloneAssembler;
  let image: Image;
  try {
    c = new CloneAssembler(m);
    image = decodeImage(c.image, "image from the primary");
  } catch (e) {
    throw new ProtocolError((e as Error).message);
  }
  n.boot(image, c.memBytes, c.stackBytes, n.peerDisk(c.disk, c.diskMode));
  if (n.machine.memBytes !== c.memBytes) throw new ProtocolError(`clone header: memory of ${c.memBytes} bytes, a machine of ${n.machine.memBytes}`);
  c.receiveInto(n.machine.mem);
  n.backupReads = n.localDisk !== undefined && c.backupReads;
  if (n.localDisk) {
    // The primary streams its own image after the memory: it lands on ours before replay starts.
    const g = n.bus.disk.geometry;
    if (c.diskChunkBytes % g.blockBytes !== 0) throw new ProtocolError(`clone header: disk image chunks of ${c.diskChunkBytes} bytes are no multiple of the ${g.blockBytes}-byte block`);
    const chunkBlocks = c.diskChunkBytes / g.blockBytes;
    if (c.diskChunks !== Math.ceil(g.blocks / chunkBlocks)) throw new ProtocolError(`clone header: ${c.diskChunks} disk image chunks for ${g.blocks} blocks of ${g.blockBytes} bytes`);
    n.diskCloneIn = { chunks: c.diskChunks, chunkBlocks, seen: new Set(), written: 0 };
  }
  n.program = c.program;
  n.epoch = c.epoch;
  n.cloneIn = c;
  n.paired = false;
  n.role = "joining";
  n.detector = new FailureDetector({ timeoutMs: n.cfg.timeoutMs, heartbeatMs: n.cfg.heartbeatMs }, nowMs);
  const actions = [n.newsAction(`joining the primary of epoch ${c.epoch}: receiving a clone of ${c.memBytes} bytes of memory`, { event: "joining" })];
  if (c.complete) actions.push(...restoreClone(n));
  return actions;
}

/** The clone is complete: restore it, replay from the snapshot's lsn, tell the primary. */
export function restoreClone(n: FtNode): Action[] {
  const c = n.cloneIn!;
  try {
    setMachineState(n.machine, c.machineState());
    n.bus.setState(c.devices);
  } catch (e) {
    if (e instanceof StateError || e instanceof DeviceStateError) throw new ProtocolError(`clone refused: ${e.message}`);
    throw e;
  }
  n.cloneIn = undefined;
  n.tracer = n.cfg.tracer?.(n.machine, { role: "backup", epoch: n.epoch, program: n.program, image: c.image });
  const env = replay.startReplay(n);
  env.lastLsn = c.lsn;
  env.lastUs = c.lastUs;
  n.received = c.lsn;
  // Output the primary released before the snapshot but the sink may not have: ours to
  // re-send if we go live (the sink drops what it has).
  n.pendingOut = c.unsunk;
  // Everything before the first unsunk byte reached the sink (all of it, when none is
  // unsunk): were this host to go live with the guest halted and nothing to re-send, no
  // acknowledgement would ever tell it so, and it would wait to finish forever.
  n.primaryReleased = c.unsunk.length > 0 ? c.unsunk[0].offset : n.bus.console.drainedBytes;
  n.net.keep(c.netKept);
  n.pendingBytes = c.unsunk.reduce((n, o) => n + o.bytes.length, 0);
  n.role = "backup";
  // Non-shared: the primary's image is still on its way; replay (and "restored", which
  // lets the primary claim the pair's epoch) waits until it has landed here.
  if (imagePending(n)) {
    n.restoredUnsent = true;
    return [n.newsAction(`restored the clone's memory at icount ${n.machine.icount}; receiving the disk image`, { event: "restored-memory", icount: n.machine.icount })];
  }
  return restoredActions(n);
}

export function restoredActions(n: FtNode): Action[] {
  n.restoredUnsent = false;
  return [
    { kind: "send", msg: { t: "restored", icount: n.machine.icount, lsn: n.received } },
    n.newsAction(`restored the clone at icount ${n.machine.icount}; replaying, waiting for the pair's epoch`, { event: "restored", icount: n.machine.icount }),
  ];
}

/** While a clone arrives: its bytes received (memory, then a non-shared disk's image written), of all it carries. */
export function cloneProgress(n: FtNode): { clone: { bytes: number; totalBytes: number } } | undefined {
  const d = n.diskCloneIn;
  const pending = n.role === "joining" || (n.role === "backup" && imagePending(n));
  if (!pending || !n.machine) return undefined;
  const memBytes = n.cloneIn?.memBytes ?? n.machine.memBytes;
  const memDone = n.cloneIn?.receivedBytes ?? memBytes;
  let diskBytes = 0;
  let diskDone = 0;
  if (d) {
    const g = n.bus.disk.geometry;
    diskBytes = g.blocks * g.blockBytes;
    diskDone = Math.min(diskBytes, d.written * d.chunkBlocks * g.blockBytes);
  }
  return { clone: { bytes: memDone + diskDone, totalBytes: memBytes + diskBytes } };
}

/** A joining backup of a non-shared disk has not yet written the whole image it is being sent. */
export function imagePending(n: FtNode): boolean {
  const d = n.diskCloneIn;
  return d !== undefined && d.written < d.chunks;
}

/** Joining backup: a chunk of the primary's image; written to this host's own image. */
export function onCloneDisk(n: FtNode, m: CloneDiskMsg): Action[] {
  const d = n.diskCloneIn;
  if (!d) throw new ProtocolError(`unexpected "clone-disk": this backup is not receiving an image`);
  const g = n.bus.disk.geometry;
  const index = m.index as number;
  if (!Number.isSafeInteger(index) || index < 0 || index >= d.chunks || d.seen.has(index)) throw new ProtocolError(`clone: disk image chunk ${String(m.index)} is out of range or repeated`);
  const block = index * d.chunkBlocks;
  const count = Math.min(d.chunkBlocks, g.blocks - block);
  const bytes = m.bytes;
  if (!(bytes instanceof Uint8Array) || bytes.length !== count * g.blockBytes)
    throw new ProtocolError(`clone: disk image chunk ${index} has ${bytes instanceof Uint8Array ? bytes.length : "no"} bytes, expected ${count * g.blockBytes}`);
  d.seen.add(index);
  const data = new Uint8Array(bytes);
  const write = (attempt: number) =>
    n.localDisk!.writeRange(block, data, count, (status) => {
      if (n.diskCloneIn !== d) return;
      if (status === DISK_STATUS.OK) d.written++;
      else if (attempt < LOCAL_DISK_ATTEMPTS_MAX) write(attempt + 1);
      else if (!d.failed) {
        d.failed = `writing the cloned image's blocks ${block}..${block + count - 1} to this host's own image failed ${attempt} times (status ${status})`;
        n.outbox.push(...n.halt(d.failed, 1, "disk-failed"));
      }
    });
  write(1);
  return [];
}

/**
 * A new backup wants to join this primary, which runs alone. The next run() copies the
 * state at an instruction boundary and sends it; from then on output waits for the new
 * backup's acknowledgements; once it has restored the copy the primary claims the next
 * epoch for the pair. Returns the reason when a join is not possible now.
 */
export function acceptJoin(n: FtNode, host: string, nowMs: number): string | undefined {
  if (n.role !== "alone") return `this host is ${n.role}, not a primary running alone`;
  if (n.join) return `a clone to ${n.join.host} is already under way`;
  const g = n.bus.disk.geometry;
  if (n.localDisk && g.blocks * g.blockBytes > CLONE_DISK_BYTES_MAX)
    return `this host's own disk image of ${g.blocks * g.blockBytes} bytes exceeds the ${CLONE_DISK_BYTES_MAX} bytes a clone may stream`;
  n.join = { host, atMs: nowMs, stage: "requested", icount: 0, bytes: 0, releasedIcount: 0 };
  return undefined;
}

/** Copies the state at this boundary and turns this alone primary into one with a (joining) backup. */
export function sendClone(n: FtNode, nowMs: number): Action[] {
  const j = n.join!;
  const actions: Action[] = [];
  // Everything produced so far is released (we are alone) before the copy, so the
  // console's state holds no undrained output and the copy's unsunk list is complete.
  const out = n.bus.console.drainOutput();
  if (out.length > 0) n.gate.hold({ icount: n.machine.icount, offset: n.bus.console.drainedBytes - out.length, bytes: out, atMs: nowMs });
  actions.push(...live.release(n, n.gate.releaseAll()));
  n.diskGate?.releaseAll();
  const machine = getMachineState(n.machine, n.snapshotMem);
  const lsn = n.live!.lastLsn;
  const msgs = cloneMessages({
    epoch: n.epoch,
    program: n.program,
    image: encodeImage(n.machine.image),
    machine,
    devices: n.bus.getState(),
    disk: n.diskGeometry(),
    lsn,
    lastUs: n.live!.virtualUs,
    unsunk: n.unsunk,
    netKept: n.net.keptChunks(),
    ...n.diskModeFields(),
    diskChunks: n.localDisk ? Math.ceil(n.bus.disk.geometry.blocks / cloneChunkBlocks(n)) : 0,
    diskChunkBytes: cloneChunkBlocks(n) * n.bus.disk.geometry.blockBytes,
  });
  for (const msg of msgs) actions.push({ kind: "send", msg });
  if (n.localDisk) {
    // Non-shared: the new backup needs this host's image as of S. New writes are held
    // from here until every chunk has been read (a write in flight at S may or may not
    // be in its chunk: the new backup performs it again, since its device lists it as
    // issued); reads go on. The chunks follow the memory on the channel.
    n.localDisk.hold();
    const g = n.bus.disk.geometry;
    const chunkBlocks = cloneChunkBlocks(n);
    n.diskClone = { chunks: Math.ceil(g.blocks / chunkBlocks), chunkBlocks, next: 0, inFlight: 0, sent: 0, bytes: 0 };
    pumpDiskClone(n);
  }
  n.plog = new PrimaryLog(n.cfg.logBufferBytesMax, lsn + 1);
  // The joiner starts replaying from here once it has the copy; the throttle measures its
  // lag from here too, and only from the hand-over on (see runLive).
  n.plog.backupIcount = n.machine.icount;
  n.throttle.newBackup();
  n.throttledUntilMs = -Infinity;
  n.detector = new FailureDetector({ timeoutMs: n.cfg.timeoutMs, heartbeatMs: n.cfg.heartbeatMs }, nowMs);
  n.peerFailed = undefined;
  n.disconnected = false;
  n.lastHeartbeatMs = -Infinity;
  n.role = "primary";
  j.stage = "cloning";
  j.icount = n.machine.icount;
  j.bytes = machine.mem.length;
  actions.push(n.newsAction(`cloning: sent a snapshot at icount ${j.icount} (${j.bytes} bytes of memory) to ${j.host}`, { event: "clone", icount: j.icount, memBytes: j.bytes }));
  return actions;
}

/** Blocks per "clone-disk" chunk: cloneDiskChunkBytes rounded down to whole blocks (at least one). */
export function cloneChunkBlocks(n: FtNode): number {
  const bs = n.bus.disk.geometry.blockBytes;
  const want = Math.min(CLONE_DISK_CHUNK_BYTES, n.cfg.cloneDiskChunkBytes ?? CLONE_DISK_CHUNK_BYTES);
  return Math.max(1, Math.floor(want / bs));
}

/** Reads the next chunks of the own image for the joining backup (a few at a time); each becomes a "clone-disk" message. */
export function pumpDiskClone(n: FtNode): void {
  const c = n.diskClone;
  if (!c) return;
  const g = n.bus.disk.geometry;
  while (c.inFlight < CLONE_DISK_READS_IN_FLIGHT && c.next < c.chunks) {
    const index = c.next++;
    const block = index * c.chunkBlocks;
    const count = Math.min(c.chunkBlocks, g.blocks - block);
    c.inFlight++;
    const read = (attempt: number) =>
      n.localDisk!.readRange(block, count, (status, data) => {
        if (n.diskClone !== c) return; // the clone failed meanwhile
        if (status !== DISK_STATUS.OK || !data) {
          if (attempt < LOCAL_DISK_ATTEMPTS_MAX) return read(attempt + 1);
          n.outbox.push(...failover.peerGone(n, `reading this host's image for the clone failed ${attempt} times (blocks ${block}..${block + count - 1})`, n.lastRunMs));
          return;
        }
        c.inFlight--;
        c.sent++;
        c.bytes += data.length;
        n.outbox.push({ kind: "send", msg: { t: "clone-disk", index, bytes: data } });
        if (c.sent === c.chunks) {
          n.diskClone = undefined;
          n.localDisk!.releaseHeld();
          n.outbox.push(n.newsAction(`clone: sent the disk image (${c.bytes} bytes in ${c.chunks} chunks); held writes released`, { event: "clone-disk", bytes: c.bytes }));
        } else pumpDiskClone(n);
      });
    read(1);
  }
}

/** The clone stopped (failed): stop streaming the image and perform the writes held for it. */
export function stopDiskClone(n: FtNode): void {
  if (!n.diskClone) return;
  n.diskClone = undefined;
  n.localDisk?.releaseHeld();
}

export function cloneFailed(n: FtNode, why: string, nowMs: number): Action[] {
  const host = n.join!.host;
  n.join = undefined;
  n.plog = undefined;
  n.detector = undefined;
  if (n.role === "primary") n.role = "alone";
  stopDiskClone(n);
  const actions: Action[] = [n.newsAction(`the clone to ${host} failed (${why}); still alone in epoch ${n.epoch}`, { event: "clone-failed" })];
  actions.push(...live.release(n, n.gate.releaseAll()));
  n.diskGate?.releaseAll();
  if (n.role === "finishing") actions.push(...live.finishing(n, nowMs));
  return actions;
}

/** The arbiter answered the claim of the next epoch for this primary and its cloned backup. */
export function onPairTas(n: FtNode, r: TasResult, nowMs: number): Action[] {
  const j = n.join!;
  n.join = undefined;
  if (!r.granted) return n.halt(`lost the test-and-set for the pair's epoch ${n.epoch + 1} (${r.reason})`, 3, "lost-election");
  n.epoch += 1;
  n.backupHost = j.host;
  const actions: Action[] = [];
  if (!j.failed) actions.push({ kind: "send", msg: { t: "paired", epoch: n.epoch } });
  actions.push(
    n.newsAction(`redundancy restored: ${j.host} joined from a snapshot at icount ${j.icount}; epoch ${n.epoch}`, {
      event: "paired",
      icount: j.icount,
      memBytes: j.bytes,
      cloneMs: Math.round(nowMs - j.atMs),
    }),
  );
  if (j.failed) {
    n.peerFailed = undefined;
    actions.push(...failover.peerGone(n, j.failed, nowMs));
  }
  return actions;
}

/** A message from the primary while the clone arrives. */
export function onJoiningMessage(n: FtNode, m: Msg): Action[] {
    if (m.t === "hb") return [];
    if (m.t === "clone-disk") return onCloneDisk(n, m);
    if (m.t !== "clone-mem") throw new ProtocolError(`expected the clone's memory, got "${m.t}"`);
    try {
      n.cloneIn!.add(m);
    } catch (e) {
      if (e instanceof CloneError) throw new ProtocolError(e.message);
      throw e;
    }
    return n.cloneIn!.complete ? restoreClone(n) : [];
}
