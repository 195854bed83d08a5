// What every simulated run must satisfy, checked over the facts the simulator recorded.
// Each failure is one sentence that starts with the check's name and says when (in
// simulated time) it went wrong:
//   one-releaser  at most one host releases output per epoch of a cluster, and only the
//                 epoch's holder; the arbiter grants each epoch of a cluster once;
//   output-rule   output leaves a host with a backup only once the backup holds the log
//                 through the icount that produced it (checked as it leaves);
//   sink-stream   what the sink wrote is exactly one execution's output: no gap (a refused
//                 gap is a failure), no duplicate, no reordering; complete when a host
//                 reported the guest done;
//   replay-trace  the backup executes what the primary executed: the same state at the
//                 icount where it goes live, the same output bytes at the same offsets,
//                 and replay never diverges; a cloned backup restores exactly the state
//                 its primary had where it took the snapshot (icount S), and its trace
//                 is compared from S on;
//   acked-output  every byte the sink accepted from an older epoch is still there, the
//                 same, in the final execution;
//   liveness      when a member of the run's cluster's current epoch survives (and every
//                 fault heals), the guest finishes and all its output reaches the sink (a
//                 host that met an arbiter which forgot the cluster halts: that arbiter
//                 can never grant it an epoch, so it does not count as a survivor);
//   cluster       output of another cluster (a stranger's, from an arbiter that lost its
//                 state) reaches the sink only to be refused for its cluster; no host of
//                 the run's cluster is granted an epoch by an arbiter of another;
//   exception     a node threw something other than a ProtocolError (a bug);
//   disk-fence    (disk runs) no write from an epoch older than one the disk had seen was
//                 performed, and every write performed came from the holder of its epoch;
//   disk-write    every write that reached the disk is one the guest makes in every
//                 execution (the failure-free run's write with the same seq: block and bytes),
//                 and the writes to each block reached it in start order (a late copy of an
//                 older write never lands on a newer one);
//   disk-image    when the guest finished, the image is the failure-free run's image;
//   disk-output   every host's console stream is a prefix of the failure-free run's output
//                 (the guest prints its error count: a request completed twice, a slot or
//                 tag that does not match, or a read that returned the wrong record shows).
// Non-shared disks (each host has its own image; disk-fence and disk-write have no server
// to look at):
//   disk-image    when the guest finished, the own image of the host that finished it (as
//                 the live primary) is the failure-free run's image, byte for byte;
//   disk-live     a backup that went live held every write its guest saw complete, and
//                 nothing else: each block holds the last completed write to it (or what
//                 the failure-free run's image starts with, zeros, when none completed), or
//                 a write the guest started and saw not complete yet (the backup performed
//                 it for replay; the new primary issues it again);
//   disk-clone    a cloned backup's image, once the clone's image chunks landed, is its
//                 primary's image at the snapshot, except that a write in flight there
//                 may or may not be in it (the new backup performs it again).
//
// Hosts: P and B, and backups respawned later (C, D, ...) that join a host running alone
// by clone. Every host's execution is one stream of output: a cloned backup's starts with
// its primary's bytes up to the snapshot and continues with its own.
import type { ArbiterState } from "../arbiter/core.js";
import type { Role } from "../ft/node.js";
import type { DiskFacts } from "./disk.js";
import type { HostId, Plan } from "./plan.js";

export interface StreamChunk {
  offset: number;
  bytes: Uint8Array;
  /** The guest's icount when the bytes were drained (the output gate's icount for them). */
  icount: number;
  /** Produced while running live (false: while replaying the primary's log). */
  live: boolean;
  t: number;
}

export interface HostFacts {
  id: HostId;
  /** The cluster it belongs to (the run's, or a stranger's). */
  cluster: string;
  /** It halted because an arbiter of another cluster answered it (the arbiter had lost its state). */
  wrongCluster?: string;
  started: boolean;
  /** The host whose execution this one replays (P for B; the primary a respawned backup joined). */
  source?: HostId;
  /** A respawned backup restored its clone: the state it started from. */
  cloned?: { t: number; from: HostId; icount: number; digest: string; base: number };
  /** A respawned backup that never got its clone (refused, or the channel closed first). */
  refused?: string;
  /** Everything the node's console produced, in order. */
  chunks: StreamChunk[];
  /** Live hosts: "regs/mem" digests at the end of every slice, by icount. */
  liveDigests: Map<number, Set<string>>;
  /** As a backup: the log it accepted goes through this icount (and lsn). */
  received: { icount: number; lsn: number };
  goLive?: { t: number; icount: number; digest: string; drained: number; epoch: number };
  crashed?: { t: number; why: string };
  halted?: { t: number; reason: string; code: number };
  done?: { t: number; drained: number; delivered: number };
  exited?: number;
  finalRole?: Role;
  finalDrained?: number;
  guestStopped?: boolean;
  /** Non-shared: the host's own image when it reported the guest done. */
  diskImageAtDone?: Uint8Array;
  /** Non-shared: its own image as it went live, the device's next seq, the requests it had issued and not seen complete, and those waiting behind them (not issued). */
  diskImageAtLive?: { image: Uint8Array; nextSeq: number; issued: number[]; waiting: number[] };
  /** Non-shared, a cloned backup: its own image once the clone's image had landed (as it sent "restored"). */
  clonedImage?: { t: number; image: Uint8Array };
  /** Non-shared: it halted because its own disk failed for good (a planned persistent error): it is as good as crashed. */
  diskBroken?: boolean;
}

export interface Violation {
  t: number;
  check: string;
  text: string;
}

export interface Facts {
  plan: Plan;
  mutation?: string;
  hosts: Record<HostId, HostFacts>;
  /** Every clone a primary sent: its state at the snapshot (icount S), and how it ended. */
  clones: {
    t: number;
    from: HostId;
    to: HostId;
    icount: number;
    digest: string;
    drained: number;
    lsn: number;
    outcome?: "paired" | "failed" | "open";
    /** Non-shared: the primary's own image at the snapshot, and the writes it had in flight then (each may or may not be in the copy). */
    image?: Uint8Array;
    inFlightWrites?: { seq: number; block: number; data: Uint8Array }[];
  }[];
  /** Every output action, in order. */
  outputs: { t: number; host: HostId; cluster: string; epoch: number; offset: number; bytes: Uint8Array }[];
  /** What the sink wrote (after its de-duplication), in order. */
  sinkWrites: { t: number; host: HostId; epoch: number; offset: number; bytes: Uint8Array }[];
  sinkRefusals: { t: number; host: HostId; epoch: number; offset: number; kind: "stale" | "gap" | "diverged" | "wrong-cluster"; reason: string }[];
  /** Output of another cluster that reached the sink, and what the sink made of it. */
  sinkForeign: { t: number; host: HostId; cluster: string; kind: string }[];
  grants: { t: number; cluster: string; epoch: number; holder: string; members: string[] }[];
  /** Found while running (output rule, exceptions, divergence halts). */
  violations: Violation[];
  arbiter: ArbiterState;
  /** The run's cluster (the sink's), and the arbiter's last state of it (the final one unless the arbiter forgot it). */
  cluster: string;
  clusterArbiter: ArbiterState;
  /** The arbiter lost its state at least once. */
  amnesia?: boolean;
  endMs: number;
  endReason: "quiet" | "cap";
  sinkDelivered: number;
  /** A disk run: what the shared disk saw, and the failure-free reference. */
  disk?: DiskFacts;
}

/** Failures reported per check (the rest are counted). */
export const REPORTED_PER_CHECK = 3;

const ms = (t: number) => `${t.toFixed(3)} ms`;

/**
 * A host's whole console stream, from its chunks (they are contiguous by construction; a
 * hole is reported). A cloned backup's own chunks start where its clone's console stood
 * (`prefix` holds what its primary produced before that).
 */
export function streamOf(h: HostFacts, prefix?: Uint8Array): { bytes: Uint8Array; hole?: number } {
  const base = h.cloned?.base ?? 0;
  let n = base;
  for (const c of h.chunks) n = Math.max(n, c.offset + c.bytes.length);
  const out = new Uint8Array(n);
  let end = base;
  let hole: number | undefined;
  if (prefix) out.set(prefix.subarray(0, Math.min(base, prefix.length)));
  if (base > 0 && (!prefix || prefix.length < base)) hole = prefix?.length ?? 0;
  for (const c of h.chunks) {
    if (c.offset !== end && hole === undefined) hole = end;
    out.set(c.bytes, c.offset);
    end = c.offset + c.bytes.length;
  }
  return { bytes: out, hole };
}

function firstDiff(a: Uint8Array, aFrom: number, b: Uint8Array, bFrom: number, n: number): number {
  for (let i = 0; i < n; i++) if (a[aFrom + i] !== b[bFrom + i]) return i;
  return -1;
}

function show(b: Uint8Array, at: number): string {
  const s = Array.from(b.subarray(Math.max(0, at - 8), at + 8), (x) => (x === 10 ? "⏎" : x >= 32 && x < 127 ? String.fromCharCode(x) : "·")).join("");
  return JSON.stringify(s);
}

export function checkRun(f: Facts): string[] {
  const out: Violation[] = [...f.violations];
  const add = (t: number, check: string, text: string) => out.push({ t, check, text });
  const ids = Object.keys(f.hosts);
  const streams = {} as Record<HostId, Uint8Array>;
  // In start order: a cloned backup's primary started before it, so its stream is ready.
  for (const id of ids) {
    const h = f.hosts[id];
    const s = streamOf(h, h.cloned ? streams[h.cloned.from] : undefined);
    streams[id] = s.bytes;
    if (s.hole !== undefined) add(f.endMs, "sink-stream", `host ${id}'s own console stream has a hole at offset ${s.hole} (simulator bug)`);
  }

  // ---- one-releaser ------------------------------------------------------------------
  // Epochs are numbered per cluster: an arbiter that forgot founds a new cluster whose epoch 1 is another epoch.
  const of = (cluster: string, epoch: number) => (cluster === f.cluster ? `epoch ${epoch}` : `epoch ${epoch} of cluster ${cluster}`);
  const byEpoch = new Map<string, { cluster: string; epoch: number; hosts: Map<HostId, number> }>();
  for (const o of f.outputs) {
    const key = `${o.cluster}/${o.epoch}`;
    let e = byEpoch.get(key);
    if (!e) byEpoch.set(key, (e = { cluster: o.cluster, epoch: o.epoch, hosts: new Map() }));
    if (!e.hosts.has(o.host)) e.hosts.set(o.host, o.t);
  }
  for (const { cluster, epoch, hosts: m } of byEpoch.values()) {
    if (m.size > 1) {
      const who = [...m].map(([h, t]) => `${h} from ${ms(t)}`).join(" and ");
      add(Math.max(...m.values()), "one-releaser", `${of(cluster, epoch)} output was released by ${m.size} hosts (${who})`);
    }
    const holders = f.grants.filter((g) => g.epoch === epoch && g.cluster === cluster);
    for (const [h, t] of m) {
      if (holders.length === 0) add(t, "one-releaser", `host ${h} released output in ${of(cluster, epoch)}, which the arbiter never granted`);
      else if (!holders.some((g) => g.holder === h)) add(t, "one-releaser", `host ${h} released output in ${of(cluster, epoch)}, which the arbiter granted to ${holders.map((g) => g.holder).join(", ")}`);
    }
  }
  for (const key of new Set(f.grants.map((g) => `${g.cluster}/${g.epoch}`))) {
    const gs = f.grants.filter((g) => `${g.cluster}/${g.epoch}` === key);
    if (gs.length > 1) add(gs[1].t, "one-releaser", `the arbiter granted ${of(gs[0].cluster, gs[0].epoch)} ${gs.length} times (${gs.map((g) => `${g.holder} at ${ms(g.t)}`).join(", ")})`);
  }

  // ---- cluster ---------------------------------------------------------------------------
  for (const x of f.sinkForeign)
    if (x.kind !== "wrong-cluster") add(x.t, "cluster", `output of host ${x.host} (cluster ${x.cluster}) reached the sink of cluster ${f.cluster} and was ${x.kind === "write" ? "written" : `taken as ${x.kind}`}, not refused for its cluster`);
  for (const id of ids) {
    const w = f.hosts[id].wrongCluster;
    if (w && !f.amnesia) add(f.hosts[id].halted?.t ?? f.endMs, "cluster", `host ${id} halted on an arbiter of another cluster (${w}), though the arbiter never lost its state`);
  }
  for (const g of f.grants) {
    const h = f.hosts[g.holder as HostId];
    if (h && h.cluster !== g.cluster) add(g.t, "cluster", `host ${g.holder} of cluster ${h.cluster} was granted epoch ${g.epoch} of cluster ${g.cluster}`);
  }

  // ---- the final execution -------------------------------------------------------------
  // Its holder's stream is the one execution every accepted byte must belong to: a
  // backup that went live replayed its predecessor's prefix and continued it.
  const last = f.grants.filter((g) => g.cluster === f.cluster).reduce<(typeof f.grants)[number] | undefined>((a, g) => (!a || g.epoch > a.epoch ? g : a), undefined);
  const finalHost = (last?.holder ?? "P") as HostId;
  const finalEpoch = last?.epoch ?? 0;
  const R = streams[finalHost] ?? new Uint8Array(0);

  // ---- sink-stream -----------------------------------------------------------------------
  for (const r of f.sinkRefusals)
    if (r.kind === "gap" || r.kind === "diverged") add(r.t, "sink-stream", `the sink refused host ${r.host}'s output at offset ${r.offset} (epoch ${r.epoch}) as ${r.kind === "gap" ? "a gap" : "a divergence"}: ${r.reason}`);
  let end = 0;
  const written: Uint8Array[] = [];
  let order = true;
  for (const w of f.sinkWrites) {
    if (w.offset !== end && order) {
      add(w.t, "sink-stream", `the sink wrote host ${w.host}'s bytes for offset ${w.offset} after ${end} bytes: ${w.offset < end ? "a duplicate" : "a gap"} (epoch ${w.epoch})`);
      order = false;
    }
    written.push(w.bytes);
    end += w.bytes.length;
  }
  const S = concat(written);
  const common = Math.min(S.length, R.length);
  const d = firstDiff(S, 0, R, 0, common);
  if (d >= 0) {
    const w = writeAt(f, d);
    add(w?.t ?? f.endMs, "sink-stream", `the sink's stream differs from the final execution (host ${finalHost}, epoch ${finalEpoch}) at offset ${d}: the sink has ${show(S, d)} (from ${w ? `host ${w.host}, epoch ${w.epoch}` : "?"}), the execution ${show(R, d)}`);
  } else if (S.length > R.length) {
    const w = writeAt(f, R.length);
    add(w?.t ?? f.endMs, "sink-stream", `the sink has ${S.length} bytes, more than the final execution (host ${finalHost}, epoch ${finalEpoch}) produced (${R.length})`);
  }
  for (const id of ids) {
    const done = f.hosts[id].done;
    if (!done || f.hosts[id].cluster !== f.cluster) continue;
    if (f.sinkDelivered !== done.drained || done.delivered !== done.drained)
      add(done.t, "sink-stream", `host ${id} reported the guest done with ${done.drained} bytes of output, but the sink delivered ${f.sinkDelivered} (the host saw ${done.delivered} acknowledged)`);
    else if (S.length !== done.drained || firstDiff(S, 0, streams[id], 0, S.length) >= 0)
      add(done.t, "sink-stream", `host ${id} reported the guest done, but the sink's stream is not its output (${S.length} bytes written, ${done.drained} produced)`);
  }

  // ---- replay-trace ------------------------------------------------------------------------
  for (const c of f.clones) {
    const to = f.hosts[c.to];
    const r = to?.cloned;
    if (!r) continue;
    if (r.icount !== c.icount || r.digest !== c.digest)
      add(r.t, "replay-trace", `host ${c.to} restored its clone at icount ${r.icount} in state ${r.digest}, but host ${c.from} took the snapshot at icount ${c.icount} in state ${c.digest}`);
    if (r.base !== c.drained) add(r.t, "replay-trace", `host ${c.to} restored its clone with ${r.base} bytes of output behind it, but host ${c.from} had produced ${c.drained} at the snapshot`);
  }
  for (const id of ids) {
    const h = f.hosts[id];
    if (!h.source) continue;
    const other = f.hosts[h.source];
    const g = h.goLive;
    if (g) {
      const seen = other.liveDigests.get(g.icount);
      if (!seen) add(g.t, "replay-trace", `host ${id} went live at icount ${g.icount}, a point where host ${other.id} never stopped while live (its state there is unknown)`);
      else if (!seen.has(g.digest)) add(g.t, "replay-trace", `host ${id} went live at icount ${g.icount} in state ${g.digest}, but host ${other.id} was in state ${[...seen].join(" or ")} there`);
    }
    // Output produced by replay must equal the live host's output at the same offsets.
    const live = streams[other.id];
    for (const c of h.chunks) {
      if (c.live) continue;
      const n = Math.min(c.bytes.length, live.length - c.offset);
      if (n <= 0) continue;
      const k = firstDiff(c.bytes, 0, live, c.offset, n);
      if (k >= 0) {
        add(c.t, "replay-trace", `host ${id} replayed output ${show(c.bytes, k)} at offset ${c.offset + k} (icount ${c.icount}), but host ${other.id} produced ${show(live, c.offset + k)} there`);
        break;
      }
    }
  }

  // ---- acked-output ------------------------------------------------------------------------
  for (const w of f.sinkWrites) {
    if (w.epoch >= finalEpoch) continue;
    const n = Math.min(w.bytes.length, Math.max(0, R.length - w.offset));
    const k = firstDiff(w.bytes, 0, R, w.offset, n);
    if (k >= 0 || n < w.bytes.length) {
      const at = k >= 0 ? w.offset + k : w.offset + n;
      add(w.t, "acked-output", `the sink accepted host ${w.host}'s bytes at offset ${at} in epoch ${w.epoch}, but the final execution (host ${finalHost}, epoch ${finalEpoch}) ${at < R.length ? `has ${show(R, at)} there instead of ${show(w.bytes, at - w.offset)}` : `ends at ${R.length}`}: acknowledged output was lost`);
      break;
    }
  }

  // ---- liveness ------------------------------------------------------------------------------
  // Progress is promised while a member of the current epoch that holds the state (it
  // started) survives: every partition heals and the arbiter becomes reachable again.
  const survivors = f.clusterArbiter.members.filter((m) => {
    const h = f.hosts[m as HostId];
    return h && h.started && !h.crashed && !h.diskBroken && !h.wrongCluster;
  });
  const finished = ids.some((id) => f.hosts[id].done && f.hosts[id].cluster === f.cluster);
  if (survivors.length > 0 && !finished) {
    const state = ids.map((id) => `${id} ${hostState(f.hosts[id])}`).join("; ");
    add(f.endMs, "liveness", `the run ended (${f.endReason === "cap" ? "time cap" : "nothing left to do"}) with the guest unfinished and ${f.sinkDelivered} bytes delivered, though ${survivors.join(" and ")} (member of epoch ${f.clusterArbiter.epoch}) never crashed: ${state}`);
  }

  if (f.disk) checkDisk(f, f.disk, streams, add);

  // The earliest failures of each check, then a count of the rest (one bug often repeats).
  out.sort((a, b) => a.t - b.t);
  const kept: string[] = [];
  const per = new Map<string, number>();
  for (const v of out) {
    const n = (per.get(v.check) ?? 0) + 1;
    per.set(v.check, n);
    if (n <= REPORTED_PER_CHECK) kept.push(`${v.check}: at ${ms(v.t)}, ${v.text}`);
  }
  for (const [check, n] of per) if (n > REPORTED_PER_CHECK) kept.push(`${check}: ${n - REPORTED_PER_CHECK} more failures like the above`);
  return kept;
}

function checkDisk(f: Facts, d: DiskFacts, streams: Record<HostId, Uint8Array>, add: (t: number, check: string, text: string) => void): void {
  const ref = d.reference;
  for (const s of d.staleAccepted) add(s.t, "disk-fence", `the disk performed host ${s.host}'s write of request ${s.seq} from epoch ${s.epoch}, though it had seen epoch ${s.serverEpoch}`);
  const lastSeq = new Map<number, { seq: number; host: HostId; epoch: number }>();
  for (const w of d.writes) {
    if (!f.grants.some((g) => g.epoch === w.epoch && g.holder === w.host))
      add(w.t, "disk-fence", `the disk performed host ${w.host}'s write of request ${w.seq} in epoch ${w.epoch}, which the arbiter did not grant to ${w.host}`);
    const r = ref.writes.get(w.seq);
    if (!r || r.block !== w.block || firstDiff(r.data, 0, w.data, 0, Math.max(r.data.length, w.data.length)) >= 0)
      add(w.t, "disk-write", `the disk performed host ${w.host}'s request ${w.seq} (block ${w.block}, epoch ${w.epoch}), but the failure-free run's request ${w.seq} ${r ? `writes ${r.block === w.block ? "other bytes to" : "block " + r.block + ", not"} block ${w.block}` : "is no write"}`);
    const prev = lastSeq.get(w.block);
    if (prev && prev.seq > w.seq)
      add(w.t, "disk-write", `block ${w.block} got host ${w.host}'s write of request ${w.seq} (epoch ${w.epoch}) after host ${prev.host}'s newer request ${prev.seq} (epoch ${prev.epoch}): an old write landed on a newer one`);
    if (!prev || prev.seq < w.seq) lastSeq.set(w.block, { seq: w.seq, host: w.host, epoch: w.epoch });
  }
  const done = Object.values(f.hosts).find((h) => h.done);
  if (d.local) checkLocalImages(f, d, add);
  else if (done) {
    const bs = d.geometry.blockBytes;
    const k = firstDiff(d.image, 0, ref.image, 0, ref.image.length);
    if (k >= 0) {
      const b = Math.floor(k / bs);
      const last = [...d.writes].reverse().find((w) => w.block === b);
      add(done.done!.t, "disk-image", `host ${done.id} reported the guest done, but block ${b} of the disk differs from the failure-free run's (last written by ${last ? `host ${last.host}'s request ${last.seq} in epoch ${last.epoch}` : "nobody"})`);
    }
  }
  for (const id of Object.keys(f.hosts)) {
    const s = streams[id];
    if (!s || s.length === 0) continue;
    const n = Math.min(s.length, ref.output.length);
    const k = firstDiff(s, 0, ref.output, 0, n);
    if (k >= 0 || s.length > ref.output.length) {
      const at = k >= 0 ? k : n;
      const c = f.hosts[id].chunks.find((x) => x.offset <= at && at < x.offset + x.bytes.length);
      add(c?.t ?? f.endMs, "disk-output", `host ${id}'s console has ${show(s, at)} at offset ${at}, the failure-free run ${at < ref.output.length ? show(ref.output, at) : "ends there"}`);
    }
  }
}

/** Non-shared disks: the finishing host's image, and every image a backup went live with. */
function checkLocalImages(f: Facts, d: DiskFacts, add: (t: number, check: string, text: string) => void): void {
  const ref = d.reference;
  const bs = d.geometry.blockBytes;
  for (const h of Object.values(f.hosts)) {
    if (h.done && h.diskImageAtDone) {
      const k = firstDiff(h.diskImageAtDone, 0, ref.image, 0, ref.image.length);
      if (k >= 0) add(h.done.t, "disk-image", `host ${h.id} reported the guest done, but block ${Math.floor(k / bs)} of its own image differs from the failure-free run's (at byte ${k % bs})`);
    }
    const cl = h.clonedImage;
    const c = cl && [...f.clones].reverse().find((x) => x.to === h.id && x.image);
    if (cl && c) {
      for (let b = 0; b < d.geometry.blocks; b++) {
        const got = cl.image.subarray(b * bs, (b + 1) * bs);
        if (firstDiff(got, 0, c.image!, b * bs, bs) < 0) continue;
        const w = c.inFlightWrites!.find((x) => x.block === b && firstDiff(got, 0, x.data, 0, bs) < 0);
        if (w) continue;
        const holds = [...ref.writes].find(([, x]) => x.block === b && firstDiff(got, 0, x.data, 0, bs) < 0)?.[0];
        add(cl.t, "disk-clone", `host ${h.id}'s own image, once its clone's image had landed, has ${holds !== undefined ? `request ${holds}'s bytes` : "other bytes"} in block ${b}, but host ${c.from}'s image held ${[...ref.writes].find(([, x]) => x.block === b && firstDiff(c.image!, b * bs, x.data, 0, bs) < 0)?.[0] ?? "no request's bytes"} there at the snapshot (icount ${c.icount})`);
        break;
      }
    }
    const live = h.diskImageAtLive;
    if (!live || !h.goLive) continue;
    // Per block: the last completed write's bytes (zeros if none), or any started write still in flight.
    const issued = new Set(live.issued);
    const waiting = new Set(live.waiting);
    const last = new Map<number, number>();
    const open = new Map<number, number[]>();
    for (const [seq, w] of ref.writes) {
      if (seq >= live.nextSeq) continue;
      for (let b = w.block; b < w.block + w.data.length / bs; b++) {
        if (issued.has(seq)) open.set(b, [...(open.get(b) ?? []), seq]);
        else if ((last.get(b) ?? 0) < seq && !waiting.has(seq)) last.set(b, seq);
      }
    }
    for (let b = 0; b < d.geometry.blocks; b++) {
      const got = live.image.subarray(b * bs, (b + 1) * bs);
      const bytesOf = (seq: number) => {
        const w = ref.writes.get(seq)!;
        return w.data.subarray((b - w.block) * bs, (b - w.block + 1) * bs);
      };
      const c = last.get(b);
      const want = c === undefined ? new Uint8Array(bs) : bytesOf(c);
      if (firstDiff(got, 0, want, 0, bs) < 0) continue;
      if ((open.get(b) ?? []).some((seq) => firstDiff(got, 0, bytesOf(seq), 0, bs) < 0)) continue;
      const holds = [...ref.writes].find(([seq, w]) => w.block <= b && b < w.block + w.data.length / bs && firstDiff(got, 0, bytesOf(seq), 0, bs) < 0)?.[0];
      add(
        h.goLive.t,
        "disk-live",
        `host ${h.id} went live at icount ${h.goLive.icount} with block ${b} of its own image holding ${holds !== undefined ? `request ${holds}'s bytes` : "bytes no write of the guest puts there"}, but its guest had seen ${c !== undefined ? `request ${c} complete last there` : "no write there complete"}${open.has(b) ? ` (and started ${open.get(b)!.join(", ")})` : ""}`,
      );
      break;
    }
  }
}

function hostState(h: HostFacts): string {
  if (h.crashed) return `crashed at ${ms(h.crashed.t)} (${h.crashed.why})`;
  if (h.halted) return `halted at ${ms(h.halted.t)} (${h.halted.reason})`;
  if (!h.started) return h.refused ? `never started (${h.refused})` : "never started";
  return `${h.finalRole}`;
}

function writeAt(f: Facts, offset: number): Facts["sinkWrites"][number] | undefined {
  let end = 0;
  for (const w of f.sinkWrites) {
    end += w.bytes.length;
    if (offset < end) return w;
  }
  return undefined;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
