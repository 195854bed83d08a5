// The break, watch and delete commands, and how a breakpoint or watchpoint hit reads.
import type { Event } from "../devices/events.js";
import { kindName } from "../devices/events.js";
import type { Hit } from "./breakpoints.js";
import { eventKinds, EVENT_GROUPS } from "./breakpoints.js";
import type { Answer } from "./format.js";
import { codeText, eventJson, placeOf, placeText } from "./format.js";
import type { Session } from "./session.js";
import { DebugError } from "./timeline.js";
import type { Change, Target } from "./watch.js";
import { readTarget, targetName, valueJson, valueText } from "./watch.js";

export function breakCmd(s: Session, args: string[], rest: string): Answer {
  const usage = "break LABEL[+N] | FILE:LINE | *PC | @ICOUNT | event KIND [if EXPR]";
  if (args.length === 0) throw new DebugError(`usage: ${usage}`);
  const ifAt = args.indexOf("if");
  const cond = ifAt >= 0 ? rest.slice(rest.search(/\sif\s/) + 4).trim() : undefined;
  const loc = ifAt >= 0 ? args.slice(0, ifAt) : args;
  let bp;
  if (loc[0] === "event") {
    if (cond !== undefined) throw new DebugError("an event breakpoint takes no condition");
    if (loc.length !== 2) throw new DebugError(`usage: break event KIND (KIND: ${Object.keys(EVENT_GROUPS).join(", ")}, or a log kind such as DISK_DONE)`);
    const kinds = eventKinds(loc[1]);
    if (!kinds) throw new DebugError(`unknown event kind "${loc[1]}" (one of ${Object.keys(EVENT_GROUPS).join(", ")}, or a log kind such as DISK_DONE)`);
    bp = s.bps.addBreakpoint({ kind: "event", spec: `event ${loc[1]}`, kinds: new Set(kinds) });
  } else if (loc[0] === "icount" || loc[0]?.startsWith("@")) {
    if (cond !== undefined) throw new DebugError("an icount breakpoint takes no condition");
    const icount = s.count(loc[0] === "icount" ? loc[1] : loc[0].slice(1), "an icount");
    bp = s.bps.addBreakpoint({ kind: "icount", spec: `@${icount}`, icount });
  } else {
    const { pcs, spec } = s.codeLocation(loc);
    const expr = cond !== undefined ? { text: cond, expr: s.expr(cond) } : undefined;
    bp = s.bps.addBreakpoint({ kind: "pc", spec, pcs, ...(expr ? { cond: expr } : {}) });
  }
  const where = bp.kind === "pc" ? bp.pcs.map((pc) => codeText(placeOf(s.sym, 0, pc))) : [];
  return {
    data: { breakpoint: { id: bp.id, kind: bp.kind, spec: bp.spec, ...(bp.kind === "pc" ? { pcs: bp.pcs, cond: bp.cond?.text } : {}) } },
    text: [`Breakpoint ${bp.id}: ${bp.spec}${bp.kind === "pc" && bp.cond ? ` if ${bp.cond.text}` : ""}`, ...where.map((w) => `  ${w}`)],
  };
}

export function watchCmd(s: Session, args: string[]): Answer {
  const target = s.target(args, "watch rN | ADDR [LEN]");
  const w = s.bps.addWatchpoint({ spec: args.join(" "), target });
  const v = readTarget(s.machine, target);
  return {
    data: { watchpoint: { id: w.id, spec: w.spec, target: targetJson(target), value: valueJson(v) } },
    text: [`Watchpoint ${w.id}: ${targetName(target)} (now ${valueText(v)})`],
  };
}

export function deleteCmd(s: Session, args: string[]): Answer {
  if (args.length === 0) {
    const n = s.bps.count;
    s.bps.clear();
    return { data: { deleted: n }, text: [`deleted ${n} breakpoints and watchpoints`] };
  }
  const ids = args.map((a) => s.count(a, "a breakpoint id"));
  const missing = ids.filter((id) => !s.bps.delete(id));
  if (missing.length) throw new DebugError(`no breakpoint or watchpoint ${missing.join(", ")}${ids.length > missing.length ? " (the others were deleted)" : ""}`);
  return { data: { deleted: ids }, text: [`deleted ${ids.join(", ")}`] };
}

export function targetJson(t: Target): Record<string, unknown> {
  return t.kind === "reg" ? { register: targetName(t) } : { addr: t.addr, len: t.len, ...(t.spec ? { spec: t.spec } : {}) };
}

/** A change as JSON and as a line ("0x.. (5) → 0x.. (6) by pc 12 <inc+4> STB r2, [r1] at icount 1233"). */
export function changeJson(s: Session, c: Change): Record<string, unknown> {
  const out: Record<string, unknown> = { from: c.from, to: c.to, cause: c.cause, old: valueJson(c.old), value: valueJson(c.value) };
  if (c.cause === "instruction") out.instruction = placeOf(s.sym, c.from, c.pc!);
  else out.events = (c.events ?? []).map(eventJson);
  return out;
}

export function changeText(s: Session, c: Change): string {
  const how =
    c.cause === "instruction"
      ? `by the instruction at ${placeText(placeOf(s.sym, c.from, c.pc!))}`
      : `by ${eventsName(c.events ?? [])} delivered at icount ${c.to}`;
  return `${valueText(c.old)} → ${valueText(c.value)}, ${how}`;
}

function eventsName(evs: readonly Event[]): string {
  const names = [...new Set(evs.map((e) => kindName(e.kind)))];
  return names.length ? names.join(" + ") : "an event";
}

export function hitJson(s: Session, h: Hit): Record<string, unknown> {
  const spec = h.what === "breakpoint" ? s.bps.breakpoints.find((b) => b.id === h.id)?.spec : s.bps.watchpoints.find((w) => w.id === h.id)?.spec;
  return { id: h.id, what: h.what, spec, ...(h.change ? { change: changeJson(s, h.change) } : {}) };
}

export function hitText(s: Session, h: Hit): string {
  if (h.what === "breakpoint") {
    const b = s.bps.breakpoints.find((x) => x.id === h.id);
    return `Breakpoint ${h.id}, ${b?.spec ?? "(deleted)"}`;
  }
  const w = s.bps.watchpoints.find((x) => x.id === h.id);
  return `Watchpoint ${h.id}, ${w ? targetName(w.target) : "(deleted)"}: ${h.change ? changeText(s, h.change) : "changed"}`;
}
