// Questions about the past: when did this last change (last-change), every change in a
// range (history), and when does an expression become true (when). They search the
// history and leave the position where it was.
import { SP } from "../../isa/table.js";
import type { Answer } from "./format.js";
import { codeText, placeOf } from "./format.js";
import type { Expr } from "./expr.js";
import { evalExpr, exprDeps } from "./expr.js";
import { memoryWriters, registerWriters } from "./effects.js";
import type { IntervalScan } from "./search.js";
import { scanBackward, scanForward } from "./search.js";
import type { Session } from "./session.js";
import { changeJson, changeText, targetJson } from "./stops.js";
import type { Observer } from "./timeline.js";
import { DebugError } from "./timeline.js";
import type { Change } from "./watch.js";
import type { Target } from "./watch.js";
import { ChangeObserver, wordsOf, readTarget, targetName, valueJson, valueText, writersOf } from "./watch.js";

/** `history` lists at most this many changes (and says when there were more). */
export const HISTORY_CHANGES_MAX = 1000;

export async function lastChange(s: Session, args: string[]): Promise<Answer> {
  const target = s.target(args, "last-change rN | ADDR [LEN]");
  const tl = s.tl;
  const m = tl.machine;
  const from = tl.icount;
  const now = readTarget(m, target);
  let latest: Change | undefined;
  const r = neverChanges(s, target) ? undefined : await scanBackward(
    tl,
    from,
    0,
    (): IntervalScan => {
      let last: Change | undefined;
      return {
        observer: new ChangeObserver(m, target, (c) => ((last = c), false)),
        best: () => ((latest = last ?? latest), last?.from),
      };
    },
    target.kind === "mem" ? wordsOf(target) : undefined,
  );
  await tl.goto(from);
  const name = targetName(target);
  const base = { target: targetJson(target), icount: from, value: valueJson(now) };
  if (r === "interrupted") return { data: { ...base, interrupted: true }, text: ["interrupted"] };
  if (!latest) return { data: { ...base, changed: false }, text: [`${name} has not changed between icount 0 and here (${from}); it is ${valueText(now)}`] };
  return {
    data: { ...base, changed: true, change: changeJson(s, latest) },
    text: [`${name} last changed going from icount ${latest.from} to ${latest.to}: ${changeText(s, latest)}`, `  (goto ${latest.from} stands just before the change)`],
  };
}

export async function history(s: Session, args: string[]): Promise<Answer> {
  const usage = "history rN | ADDR [LEN] [from ICOUNT] [to ICOUNT]";
  const tl = s.tl;
  const here = tl.icount;
  let lo = 0;
  let hi = here;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "from") lo = s.icountArg(args[++i], "an icount after from");
    else if (args[i] === "to") hi = s.icountArg(args[++i], "an icount after to");
    else rest.push(args[i]);
  }
  const target = s.target(rest, usage);
  if (lo > hi) throw new DebugError(`from ${lo} is after to ${hi}`);
  const m = tl.machine;
  const changes: Change[] = [];
  let truncated = false;
  if ((await tl.goto(lo)) === "interrupted") return { data: { interrupted: true }, text: ["interrupted"] };
  const obs = new ChangeObserver(m, target, (c) => {
    if (changes.length >= HISTORY_CHANGES_MAX) return (truncated = true);
    changes.push(c);
    return false;
  });
  const r = await scanForward(tl, hi, obs, target.kind === "mem" ? wordsOf(target) : undefined);
  const stoppedAt = tl.icount;
  await tl.goto(here);
  const name = targetName(target);
  const text = changes.map((c) => `  icount ${c.from} → ${c.to}: ${changeText(s, c)}`);
  if (truncated) text.push(`  … stopped after ${HISTORY_CHANGES_MAX} changes (HISTORY_CHANGES_MAX) at icount ${stoppedAt}; ask again with from ${stoppedAt}`);
  if (r === "interrupted") text.push(`  … interrupted at icount ${stoppedAt}`);
  return {
    data: { target: targetJson(target), from: lo, to: hi, changes: changes.map((c) => changeJson(s, c)), truncated, ...(r === "interrupted" ? { interrupted: true } : {}) },
    text: [`${name}: ${changes.length} change${changes.length === 1 ? "" : "s"} between icount ${lo} and ${hi}`, ...text],
  };
}

export function when(s: Session, args: string[]): Promise<Answer> {
  let text = (args[0] ?? "").trim();
  let backward = false;
  const flag = /^(-r|--reverse|-b|--backward)(\s+|$)/.exec(text);
  if (flag) {
    backward = true;
    text = text.slice(flag[0].length);
  }
  return whenSearch(s, text, backward);
}

export function reverseWhen(s: Session, args: string[]): Promise<Answer> {
  return whenSearch(s, (args[0] ?? "").trim(), true);
}

/**
 * The icount at which `text` becomes true: an icount where it holds and did not hold
 * one position before. Forward: the first such icount after here; backward: the last
 * one at or before here (icount 0 counts when it holds from the start).
 */
async function whenSearch(s: Session, text: string, backward: boolean): Promise<Answer> {
  if (text === "") throw new DebugError("usage: when [-r] EXPR");
  const expr = s.expr(text);
  const tl = s.tl;
  const m = tl.machine;
  const from = tl.icount;
  const deps = exprDeps(expr);
  const anyMemory = deps.mem === "any" || deps.mem.length > 0;
  if (!deps.pc && !deps.icount && deps.regs.size === 0 && !anyMemory) throw new DebugError(`${text} reads nothing from the machine, so it never changes (it is ${evalExpr(expr, s.env)})`);
  const pcs: ReadonlySet<number> | "all" = deps.pc || deps.icount ? "all" : writers(s, deps.regs, deps.mem);
  const memOnly = !deps.pc && !deps.icount && deps.regs.size === 0 && deps.mem !== "any";
  const words = memOnly ? wordsOf(deps.mem as { from: number; to: number }[]) : undefined;
  const errors = { count: 0, first: undefined as undefined | { icount: number; message: string } };
  const truth = () => holds(s, expr, errors);
  let found: { icount: number; pc: number } | undefined;

  const watcher = (stopAtFirst: boolean) => {
    let last = truth();
    let best: { icount: number; pc: number } | undefined;
    const check = (pos: number): boolean => {
      const v = truth();
      const rising = v && !last;
      last = v;
      if (!rising) return false;
      best = { icount: pos, pc: m.pc };
      return stopAtFirst;
    };
    const obs: Observer = {
      pcs,
      after: (icount, _pc, follow) => (follow ? false : check(icount + 1)),
      delivered: (icount) => check(icount),
    };
    return { obs, best: () => best };
  };

  let interrupted = false;
  if (!backward) {
    const w = watcher(true);
    const r = await scanForward(tl, tl.endIcount, w.obs, words);
    interrupted = r === "interrupted";
    found = w.best();
  } else {
    const r = await scanBackward(
      tl,
      from,
      0,
      () => {
        const w = watcher(false);
        return { observer: w.obs, best: () => ((found = w.best() ?? found), w.best()?.icount) };
      },
      words,
    );
    interrupted = r === "interrupted";
    if (!interrupted && !found) {
      await tl.goto(0);
      if (truth()) found = { icount: 0, pc: m.pc };
    }
  }
  const searchedTo = tl.icount;
  await tl.goto(from);
  const data: Record<string, unknown> = { expr: text, direction: backward ? "backward" : "forward", from };
  const lines: string[] = [];
  if (interrupted) {
    data.interrupted = true;
    lines.push(`interrupted at icount ${searchedTo}`);
  } else if (found) {
    const p = placeOf(s.sym, found.icount, found.pc);
    data.icount = found.icount;
    data.place = p;
    lines.push(`${text} becomes true at icount ${found.icount}${found.icount === 0 ? " (it holds from the start)" : ""}`, `  next there: ${codeText(p)}`, `  (goto ${found.icount} to stand there)`);
  } else {
    data.icount = null;
    lines.push(backward ? `${text} does not become true between icount 0 and here (${from})` : `${text} does not become true after here (${from}) up to the end (${tl.endIcount})`);
  }
  if (errors.count > 0) {
    data.evalErrors = { count: errors.count, first: errors.first };
    lines.push(`  note: it could not be evaluated ${errors.count} times (counted as false), first at icount ${errors.first!.icount}: ${errors.first!.message}`);
  }
  return { data, text: lines };
}

function holds(s: Session, expr: Expr, errors: { count: number; first: undefined | { icount: number; message: string } }): boolean {
  try {
    return evalExpr(expr, s.env) !== 0;
  } catch (e) {
    errors.count++;
    errors.first ??= { icount: s.tl.icount, message: (e as Error).message };
    return false;
  }
}

/**
 * A register no instruction of the program writes (and not sp, which interrupts move)
 * keeps its value through the whole history: no need to re-execute any of it.
 */
function neverChanges(s: Session, target: Target): boolean {
  return target.kind === "reg" && target.reg !== SP && writersOf(s.tl.machine, target).size === 0;
}

function writers(s: Session, regs: ReadonlySet<number>, mem: { from: number; to: number }[] | "any"): Set<number> {
  const m = s.tl.machine;
  const out = new Set<number>();
  for (const r of regs) for (const pc of registerWriters(m.image, r)) out.add(pc);
  if (mem === "any" || mem.length > 0) for (const pc of memoryWriters(m.image, mem, { from: m.stackBase, to: m.memBytes })) out.add(pc);
  return out;
}
