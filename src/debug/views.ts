// Looking at the present position: registers, memory, expressions, code with its source,
// where we are in the log, the console output so far, and the debugger's own state.
import { REGISTER_COUNT } from "../../isa/table.js";
import { registerName } from "../asm/registers.js";
import type { Answer } from "./format.js";
import { codeText, eventJson, eventText, hex, placeOf, sourceText } from "./format.js";
import { firstEventAt } from "./log.js";
import type { Session } from "./session.js";
import { DebugError } from "./timeline.js";
import { targetJson } from "./stops.js";

/** `mem` shows at most this many bytes at once. */
export const MEM_DUMP_BYTES_MAX = 64 * 1024;
/** `disasm` and `events` show at most this many lines at once. */
export const LISTING_LINES_MAX = 1000;
/** `output` shows at most this many bytes at once. */
export const OUTPUT_BYTES_MAX = 1024 * 1024;

export function regs(s: Session): Answer {
  const m = s.machine;
  const regs: Record<string, number> = {};
  const text: string[] = [];
  for (let r = 0; r < REGISTER_COUNT; r += 4) {
    const row: string[] = [];
    for (let k = r; k < r + 4; k++) {
      regs[registerName(k)] = m.regs[k];
      row.push(`${registerName(k).padStart(3)} ${hex(m.regs[k])} ${String(m.regs[k]).padStart(11)}`);
    }
    text.push(row.join("   "));
  }
  const flags = { ie: m.ie, waiting: m.waiting, halted: m.halted, trap: m.trap ? { kind: m.trap.kind, detail: m.trap.detail } : null };
  const pos = s.position();
  text.push(`ie ${m.ie ? 1 : 0}  waiting ${m.waiting ? 1 : 0}  halted ${m.halted ? 1 : 0}${m.trap ? `  trap ${m.trap.kind}` : ""}`, ...pos.text);
  return { data: { regs, ...flags, ...pos.data }, text };
}

export function mem(s: Session, args: string[]): Answer {
  if (args.length < 1 || args.length > 2) throw new DebugError("usage: mem ADDR [LEN]");
  const m = s.machine;
  const addr = s.value(args[0]);
  const len = args.length > 1 ? s.value(args[1]) : 64;
  if (!Number.isSafeInteger(len) || len < 1 || len > MEM_DUMP_BYTES_MAX) throw new DebugError(`length must be 1..${MEM_DUMP_BYTES_MAX} (MEM_DUMP_BYTES_MAX), got ${len}`);
  if (!Number.isSafeInteger(addr) || addr < 0 || addr >= m.memBytes) throw new DebugError(`address ${addr} is outside memory [0, ${m.memBytes})`);
  const end = Math.min(m.memBytes, addr + len);
  const bytes = m.mem.subarray(addr, end);
  const text: string[] = [];
  for (let a = addr; a < end; a += 16) {
    const row = m.mem.subarray(a, Math.min(end, a + 16));
    const hexes = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    text.push(`${hex(a)}  ${hexes.padEnd(47)}  ${ascii}`);
  }
  if (end < addr + len) text.push(`(memory ends at ${hex(m.memBytes)})`);
  return { data: { addr, len: end - addr, hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""), icount: s.tl.icount }, text };
}

export function print(s: Session, args: string[]): Answer {
  const text = (args[0] ?? "").trim();
  if (text === "") throw new DebugError("usage: print EXPR");
  const v = s.value(text);
  return { data: { expr: text, value: v, icount: s.tl.icount }, text: [Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff ? `${text} = ${v} (${hex(v)})` : `${text} = ${v}`] };
}

export function disasm(s: Session, args: string[]): Answer {
  const sym = s.sym;
  let center = s.machine.pc;
  let n = 11;
  const rest = [...args];
  // A bare number is never a location (they are written *PC, LABEL or FILE:LINE), so it is the count.
  if (rest.length > 0 && /^\d+$/.test(rest[rest.length - 1])) n = s.count(rest.pop(), "a line count");
  if (rest.length > 0) center = s.codeLocation(rest).pcs[0];
  if (n < 1 || n > LISTING_LINES_MAX) throw new DebugError(`line count must be 1..${LISTING_LINES_MAX} (LISTING_LINES_MAX)`);
  const first = Math.max(0, Math.min(center - Math.floor(n / 3), sym.codeCount - n));
  const last = Math.min(sym.codeCount, first + n);
  const pc = s.machine.pc;
  const lines: Record<string, unknown>[] = [];
  const text: string[] = [];
  for (let at = first; at < last; at++) {
    const p = placeOf(sym, 0, at);
    const label = sym.labelOf(at);
    if (label && !label.includes("+")) text.push(`${label}:`);
    const src = sourceText(p, s.readLine)[0];
    text.push(`${at === pc ? "=>" : "  "} ${String(at).padStart(5)}  ${p.instruction.padEnd(28)}${p.source ? ` ; ${p.source}` : ""}${src ? `  ${src.replace(/^\s*\d+ \| /, "| ")}` : ""}`);
    lines.push({ pc: at, instruction: p.instruction, ...(p.label ? { label: p.label } : {}), ...(p.source ? { source: p.source } : {}), current: at === pc });
  }
  return { data: { from: first, to: last, lines }, text };
}

export function where(s: Session): Answer {
  const tl = s.tl;
  const events = tl.log.events;
  const here = tl.icount;
  const i = firstEventAt(events, here + 1);
  const prev = events[i - 1];
  const next = events[i];
  const pos = s.position();
  const text = [...pos.text];
  if (prev) text.push(`  last event: ${eventText(prev)}`);
  if (next) text.push(`  next event: ${eventText(next)}`);
  text.push(`  history: icount 0 .. ${tl.endIcount} (${tl.endReason})`);
  return {
    data: { ...pos.data, prevEvent: prev ? eventJson(prev) : null, nextEvent: next ? eventJson(next) : null, end: tl.endIcount, endReason: tl.endReason },
    text,
  };
}

export function events(s: Session, args: string[]): Answer {
  const n = s.count(args[0], "a number of events", 5);
  if (n > LISTING_LINES_MAX) throw new DebugError(`at most ${LISTING_LINES_MAX} events each side (LISTING_LINES_MAX)`);
  const tl = s.tl;
  const all = tl.log.events;
  const here = tl.icount;
  const split = firstEventAt(all, here + 1);
  const before = all.slice(Math.max(0, split - n), split);
  const after = all.slice(split, split + n);
  const text = [
    ...(split - n > 0 ? [`  … ${split - n} earlier events`] : []),
    ...before.map((e) => `  ${eventText(e)}`),
    `=> here: icount ${here}  ${codeText(placeOf(s.sym, here, s.machine.pc))}`,
    ...after.map((e) => `  ${eventText(e)}`),
    ...(split + n < all.length ? [`  … ${all.length - split - n} later events`] : []),
  ];
  if (all.length === 0) text.push("  (the log holds no events)");
  return { data: { icount: here, total: all.length, before: before.map(eventJson), after: after.map(eventJson) }, text };
}

export function output(s: Session, args: string[]): Answer {
  const n = s.count(args[0], "a number of bytes", 1000);
  if (n > OUTPUT_BYTES_MAX) throw new DebugError(`at most ${OUTPUT_BYTES_MAX} bytes (OUTPUT_BYTES_MAX)`);
  const o = s.tl.output(n);
  const str = Buffer.from(o.bytes).toString("latin1");
  const head = o.dropped ? [`(older output was not kept; showing bytes ${o.from}..${o.total})`] : [];
  return {
    data: { icount: s.tl.icount, from: o.from, total: o.total, text: str },
    text: [...head, ...(str === "" ? ["(no console output before this position)"] : str.replace(/\n$/, "").split("\n"))],
  };
}

export function info(s: Session, args: string[]): Answer {
  const what = args[0] ?? "";
  const tl = s.tl;
  if ("breakpoints".startsWith(what) || "watchpoints".startsWith(what)) {
    const bps = s.bps.breakpoints.map((b) => ({ id: b.id, kind: b.kind, spec: b.spec, ...(b.kind === "pc" ? { pcs: b.pcs, cond: b.cond?.text } : {}) }));
    const wps = s.bps.watchpoints.map((w) => ({ id: w.id, spec: w.spec, target: targetJson(w.target) }));
    const text = [
      ...s.bps.breakpoints.map((b) => `  ${b.id}  breakpoint  ${b.spec}${b.kind === "pc" ? ` (pc ${b.pcs.join(", ")})${b.cond ? ` if ${b.cond.text}` : ""}` : ""}`),
      ...s.bps.watchpoints.map((w) => `  ${w.id}  watchpoint  ${w.spec}`),
    ];
    return { data: { breakpoints: bps, watchpoints: wps }, text: text.length ? text : ["no breakpoints or watchpoints"] };
  }
  if ("snapshots".startsWith(what) && what !== "") {
    const st = tl.store;
    const data = {
      checkpoints: st.checkpoints.length,
      bytes: st.bytes,
      peakBytes: st.peakBytes,
      bytesMax: st.bytesMax,
      intervalIcount: st.intervalIcount,
      removed: st.removed,
      maxReached: tl.maxReached,
      first: st.checkpoints[0]?.icount,
      last: st.last?.icount,
    };
    return {
      data,
      text: [
        `${data.checkpoints} checkpoints (icount ${data.first} .. ${data.last}), every ${data.intervalIcount} instructions at first`,
        `${(data.bytes / 1048576).toFixed(2)} MiB held, at most ${(data.peakBytes / 1048576).toFixed(2)} MiB so far, budget ${(data.bytesMax / 1048576).toFixed(2)} MiB (--snapshot-bytes); ${data.removed} thinned out`,
        `replay has reached icount ${data.maxReached}`,
      ],
    };
  }
  if ("log".startsWith(what) && what !== "") {
    const h = tl.log.header;
    const data = {
      program: h.program,
      memBytes: h.memBytes,
      stackBytes: h.stackBytes,
      unloggedRand: h.unloggedRand,
      disk: h.disk ?? null,
      events: tl.log.events.length,
      end: tl.endIcount,
      endReason: tl.endReason,
      cutOff: tl.log.cutOff,
      divergence: tl.divergence ?? null,
      epochs: h.epochs ?? null,
    };
    // A log stitched from an FT run (ftvm ft --record) says where history passed from one live host to the next.
    const epochs = (h.epochs ?? []).map((e) => `  epoch ${e.epoch}: ${e.host} went live at icount ${e.liveIcount}; its events from lsn ${e.fromLsn} (icount ${e.icount}) are history`);
    return {
      data,
      text: [
        `program ${h.program}; memory ${h.memBytes} bytes (stack ${h.stackBytes})${h.disk ? `; disk ${h.disk.blocks} × ${h.disk.blockBytes} bytes` : ""}${h.unloggedRand ? "; recorded with --unlogged-rand" : ""}`,
        `${data.events} events; the history ends at icount ${data.end}: ${data.endReason}`,
        ...(epochs.length ? ["an FT run's log, stitched from the live hosts of these epochs:", ...epochs] : []),
      ],
    };
  }
  throw new DebugError("usage: info breakpoints | snapshots | log");
}
