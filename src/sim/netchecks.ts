// The checks of a network seed (./netsim.ts), over what the run left behind: the
// violations its shells noted on the spot (a reply with no request, a connection the
// guest or the switch dropped, output of an older epoch taken, a divergence, a node that
// threw), requests never answered although a primary served to the end, and the
// linearizability of the clients' history (./linearizable.ts).
import { checkLinearizable } from "./linearizable.js";
import type { SimClient } from "./netclients.js";
import type { NetPlan } from "./netplan.js";

export interface NetFacts {
  plan: NetPlan;
  mutation?: string;
  endMs: number;
  endReason: "clients-done" | "cap";
  clients: readonly SimClient[];
  /** Noted by the shells as they happened. */
  violations: readonly string[];
  /** Hosts up and live when the run ended. */
  liveAtEnd: readonly string[];
  switchPrimary: string | undefined;
  diverged: number;
}

/** The failures of a run, first the most telling. */
export function checkNetRun(f: NetFacts): string[] {
  const out: string[] = [];
  for (const c of f.clients) out.push(...c.violations);
  out.push(...f.violations);
  if (f.diverged > 0) out.push(`the switch refused ${f.diverged} diverging output chunks`);
  // Every request on a connection the client kept must be answered: one host always
  // survives a plan, so a request still waiting at the end is a lost one (a gap).
  if (f.endReason === "cap") {
    for (const c of f.clients) {
      if (c.done) continue;
      const conn = c.conn;
      const waiting = conn?.outstanding[0];
      const what = waiting
        ? `its request ${waiting.op.kind.toUpperCase()} ${waiting.op.key} sent at ${waiting.invokeMs.toFixed(3)} ms on connection ${conn!.n} was never answered`
        : `it had ${c.plan.ops.length - c.next} operations left and could not send them (connection ${conn ? `${conn.n} ${conn.id === undefined ? "never accepted" : "open"}` : "none"})`;
      out.push(`client ${c.id} stalled: ${what} (the run ended at ${f.endMs.toFixed(3)} ms; live hosts: ${f.liveAtEnd.join(", ") || "none"}, the switch's primary: ${f.switchPrimary ?? "none"})`);
    }
  }
  const v = checkLinearizable(f.clients.flatMap((c) => c.history));
  if (v.linearizable === false) out.push(`the clients' history is not linearizable on key ${v.key}: ${v.why}`);
  else if (v.linearizable === "unknown") out.push(`the clients' history could not be decided on key ${v.key}: ${v.why}`);
  return out;
}
