// Moving through time: step, next, continue, finish, goto and their reverse forms. Every
// command answers with why it stopped and where it stands.
import { OP, SP } from "../../isa/table.js";
import type { Hit } from "./breakpoints.js";
import { decodeAt, frameOps, isCall } from "./effects.js";
import type { Answer } from "./format.js";
import { scanBackward, scanForward } from "./search.js";
import type { Session } from "./session.js";
import { hitJson, hitText } from "./stops.js";
import type { Observer, RunOutcome } from "./timeline.js";
import { DebugError } from "./timeline.js";
import { combine, wordsOf } from "./watch.js";

/** The answer after a move: why it stopped, the hits, and the position. */
function moved(s: Session, stop: string, lines: string[], hits: Hit[] = [], extra: Record<string, unknown> = {}): Answer {
  const pos = s.position();
  return {
    data: { stop, ...(hits.length ? { hits: hits.map((h) => hitJson(s, h)) } : {}), ...extra, ...pos.data },
    text: [...lines, ...hits.map((h) => hitText(s, h)), ...pos.text],
  };
}

/** Merges hits found by execution with the breakpoints that hold where it stopped (each id once). */
function allHits(s: Session, found: Hit[]): Hit[] {
  const tl = s.tl;
  const out = [...found];
  for (const h of s.bps.hitsAt(tl.log.events, tl.icount, tl.machine, s.env)) if (!out.some((x) => x.id === h.id)) out.push(h);
  return out;
}

function notAtEnd(s: Session): void {
  if (s.tl.icount >= s.tl.endIcount) throw new DebugError(`at the end of the history (icount ${s.tl.endIcount}: ${s.tl.endReason}); go back with reverse-step, reverse-continue or goto`);
}

function notAtStart(s: Session): void {
  if (s.tl.icount === 0) throw new DebugError("at the start of the history (icount 0); go forward with step, continue or goto");
}

/** The answer after running forward with the user's breakpoints watching. */
function forwardAnswer(s: Session, r: RunOutcome, hits: Hit[], ownStop?: { stop: string; line: string }): Answer {
  if (r === "interrupted") return moved(s, "interrupted", ["interrupted"]);
  const own = ownStop?.line ? [ownStop.line] : [];
  const all = allHits(s, hits);
  if (all.length) return moved(s, all[0].what, hits.length ? [] : own, all);
  if (ownStop) return moved(s, ownStop.stop, own);
  return moved(s, "end", [`reached the end of the history: ${s.tl.endReason}`]);
}

/** Runs forward to `limit` (clamped at the next known-position breakpoint) with the user's breakpoints and `extra`. */
async function runForward(s: Session, extra?: Observer): Promise<{ r: RunOutcome; hits: Hit[] }> {
  const tl = s.tl;
  const start = tl.icount;
  const known = s.bps.nextKnown(tl.log.events, start, tl.endIcount);
  const u = s.bps.needsExecution ? s.bps.observer(tl.machine, s.env, start, "forward") : undefined;
  const limit = Math.min(tl.endIcount, known);
  if (u && !extra && s.bps.memoryOnly) {
    // Only memory watchpoints: run at full speed where their words do not change.
    const r = await scanForward(tl, limit, u.observer, s.bps.watchpoints.flatMap((w) => wordsOf(w.target)));
    return { r, hits: u.hits };
  }
  const parts = [u?.observer, extra].filter((o): o is Observer => o !== undefined);
  const r = await tl.run(limit, parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : combine(parts));
  return { r, hits: u?.hits ?? [] };
}

export async function step(s: Session, args: string[]): Promise<Answer> {
  const n = s.count(args[0], "a number of instructions", 1);
  notAtEnd(s);
  const from = s.tl.icount;
  const r = await s.tl.goto(Math.min(s.tl.endIcount, from + n));
  const steps = s.tl.icount - from;
  if (r === "interrupted") return moved(s, "interrupted", [`interrupted after ${steps} instructions`], [], { steps });
  if (s.tl.icount < from + n) return moved(s, "end", [`reached the end of the history after ${steps} instructions: ${s.tl.endReason}`], [], { steps });
  return moved(s, "step", [], [], { steps });
}

export async function reverseStep(s: Session, args: string[]): Promise<Answer> {
  const n = s.count(args[0], "a number of instructions", 1);
  notAtStart(s);
  const from = s.tl.icount;
  const r = await s.tl.goto(Math.max(0, from - n));
  const steps = from - s.tl.icount;
  if (r === "interrupted") return moved(s, "interrupted", ["interrupted"], [], { steps });
  if (steps < n) return moved(s, "start", [`reached the start of the history after ${steps} instructions`], [], { steps });
  return moved(s, "step", [], [], { steps });
}

export async function gotoCmd(s: Session, args: string[]): Promise<Answer> {
  if (args.length !== 1) throw new DebugError("usage: goto ICOUNT (or goto start, goto end)");
  const target = args[0] === "start" ? 0 : args[0] === "end" ? s.tl.endIcount : s.icountArg(args[0]);
  const r = await s.tl.goto(target);
  if (r === "interrupted") return moved(s, "interrupted", ["interrupted"]);
  if (s.tl.icount !== target) return moved(s, "end", [`replay stopped at icount ${s.tl.icount} before reaching ${target}: ${s.tl.endReason}`]);
  return moved(s, "goto", []);
}

export async function cont(s: Session): Promise<Answer> {
  notAtEnd(s);
  const { r, hits } = await runForward(s);
  return forwardAnswer(s, r, hits);
}

export async function next(s: Session): Promise<Answer> {
  notAtEnd(s);
  const tl = s.tl;
  const m = tl.machine;
  const start = tl.icount;
  const pc = m.pc;
  if (!isCall(tl.log.image, pc) || m.waiting || m.halted || m.trap) {
    const r = await tl.goto(start + 1);
    return forwardAnswer(s, r, [], { stop: "next", line: "" });
  }
  const ret = pc + 1;
  const sp = m.regs[SP];
  let returned = false;
  const back: Observer = {
    pcs: new Set([ret]),
    before: (icount, at) => {
      if (icount > start && at === ret && m.regs[SP] === sp) returned = true;
      return returned;
    },
  };
  const { r, hits } = await runForward(s, back);
  return forwardAnswer(s, r, hits, returned ? { stop: "next", line: `returned from ${s.sym.labelOf(m.imm[pc]) ?? "the call"}` } : undefined);
}

export async function finish(s: Session): Promise<Answer> {
  notAtEnd(s);
  const tl = s.tl;
  const fn = s.sym.labelOf(tl.machine.pc)?.replace(/\+\d+$/, "");
  const { calls, returns } = frameOps(tl.log.image);
  let depth = 0;
  let done = false;
  const frames: Observer = {
    pcs: new Set([...calls, ...returns]),
    after: (_icount, pc) => {
      if (calls.has(pc)) depth++;
      else if (returns.has(pc) && --depth < 0) done = true;
      return done;
    },
    delivered: (_icount, _events, entered) => {
      depth += entered;
      return false;
    },
  };
  const { r, hits } = await runForward(s, frames);
  const line = `returned from ${fn ?? "the function"}`;
  if (!done && r === "end") return moved(s, "end", [`reached the end of the history without returning from ${fn ?? "the function"}: ${tl.endReason}`], allHits(s, hits));
  return forwardAnswer(s, r, hits, done ? { stop: "finish", line } : undefined);
}

/** Scans backward from the current position with the user's breakpoints and `extra` (made per interval). */
async function runBackward(
  s: Session,
  extra?: () => { observer: Observer; best(): number | undefined },
): Promise<{ pos: number | "interrupted" | undefined; hits: Hit[]; extraPos?: number }> {
  const tl = s.tl;
  const from = tl.icount;
  const known = s.bps.prevKnown(tl.log.events, from);
  let hits: Hit[] = [];
  let extraPos: number | undefined;
  let found: number | undefined | "interrupted";
  if (s.bps.needsExecution || extra) {
    const words = s.bps.watchpoints.flatMap((w) => wordsOf(w.target));
    const memory = !extra && s.bps.memoryOnly ? words : undefined;
    found = await scanBackward(
      tl,
      from,
      Math.max(known, 0),
      () => {
        const u = s.bps.observer(tl.machine, s.env, -1, "collect");
        const x = extra?.();
        return {
          observer: x ? combine([u.observer, x.observer]) : u.observer,
          best: () => {
            const ub = u.best();
            const xb = x?.best();
            hits = u.hits;
            extraPos = xb;
            if (ub === undefined) return xb;
            return xb === undefined || ub >= xb ? ub : xb;
          },
        };
      },
      memory,
    );
  }
  if (found === "interrupted") {
    await tl.goto(from);
    return { pos: "interrupted", hits: [] };
  }
  const pos = Math.max(found ?? -1, known);
  if (pos < 0) return { pos: undefined, hits: [] };
  return { pos, hits: found === pos ? hits.filter((h) => h.pos === pos) : [], extraPos: extraPos === pos ? pos : undefined };
}

export async function reverseCont(s: Session): Promise<Answer> {
  notAtStart(s);
  const { pos, hits } = await runBackward(s);
  if (pos === "interrupted") return moved(s, "interrupted", ["interrupted; back where it started"]);
  if (pos === undefined) {
    await s.tl.goto(0);
    return moved(s, "start", ["reached the start of the history"]);
  }
  await s.tl.goto(pos);
  const all = allHits(s, hits);
  return moved(s, all[0]?.what ?? "breakpoint", [], all);
}

export async function reverseNext(s: Session): Promise<Answer> {
  notAtStart(s);
  const tl = s.tl;
  const m = tl.machine;
  const from = tl.icount;
  const pcN = m.pc;
  const spN = m.regs[SP];
  if ((await tl.goto(from - 1)) === "interrupted") return moved(s, "interrupted", ["interrupted"]);
  const sp = m.regs[SP];
  const returned = decodeAt(tl.log.image, m.pc).op === OP.RET && sp + 4 === spN && m.mem32[sp >>> 2] === pcN && isCall(tl.log.image, pcN - 1);
  if (!returned) return moved(s, "reverse-next", []);
  const callPc = pcN - 1;
  const { pos, hits, extraPos } = await runBackward(s, () => {
    let best: number | undefined;
    return {
      observer: {
        pcs: new Set([callPc]),
        before: (icount, pc) => {
          if (pc === callPc && m.regs[SP] === spN) best = icount;
          return false;
        },
      },
      best: () => best,
    };
  });
  if (pos === "interrupted") return moved(s, "interrupted", ["interrupted"]);
  if (pos === undefined) {
    // The return went to an address no CALL pushed: a plain step back is all there is.
    await tl.goto(from - 1);
    return moved(s, "reverse-next", []);
  }
  await tl.goto(pos);
  if (extraPos === pos && hits.length === 0) return moved(s, "reverse-next", [`back before the call to ${s.sym.labelOf(m.imm[callPc]) ?? "the function"}`]);
  return moved(s, hits[0]?.what ?? "breakpoint", [], allHits(s, hits));
}

export async function reverseFinish(s: Session): Promise<Answer> {
  notAtStart(s);
  const tl = s.tl;
  const from = tl.icount;
  const fn = s.sym.labelOf(tl.machine.pc)?.replace(/\+\d+$/, "");
  const { calls, returns } = frameOps(tl.log.image);
  // Returns not yet matched by their call carry over from newer intervals to older ones.
  // Within an interval a forward pass keeps a stack of calls not yet returned from:
  // matched pairs cancel, so it holds only the calls still open at the interval's end
  // (newest on top), and `unmatched` counts returns to calls before the interval.
  let depth = 0;
  const { pos, hits, extraPos } = await runBackward(s, () => {
    const open: number[] = [];
    let unmatched = 0;
    const enter = (at: number) => open.push(at);
    const leave = () => (open.length > 0 ? open.pop() : unmatched++);
    return {
      observer: {
        pcs: new Set([...calls, ...returns]),
        after: (icount, pc) => {
          if (calls.has(pc)) enter(icount);
          else if (returns.has(pc)) leave();
          return false;
        },
        delivered: (icount, _events, entered) => {
          for (let k = 0; k < entered; k++) enter(icount - 1);
          return false;
        },
      },
      best: () => {
        if (depth < open.length) return open[open.length - 1 - depth];
        depth += unmatched - open.length;
        return undefined;
      },
    };
  });
  if (pos === "interrupted") return moved(s, "interrupted", ["interrupted; back where it started"]);
  if (pos === undefined) {
    await tl.goto(from);
    throw new DebugError(`not inside a called function or interrupt handler: no CALL or interrupt before icount ${from} is still open`);
  }
  await tl.goto(pos);
  if (extraPos === pos && hits.length === 0) return moved(s, "reverse-finish", [`back at the call into ${fn ?? "the function"}`]);
  return moved(s, hits[0]?.what ?? "breakpoint", [], allHits(s, hits));
}
