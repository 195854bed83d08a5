// Compares two traces record by record and reports the first divergence: where (icount,
// pc, the instruction), and what differs (each register as expected/got, the memory
// digest). "Expected" is the first trace (usually the recording), "got" the second.
import { kindName } from "../devices/events.js";
import type { TraceHeader, TraceRecord } from "./format.js";
import { CAUSE_PERIODIC } from "./format.js";

export interface DiffResult {
  identical: boolean;
  /** Records compared (equal ones, plus the divergent one). */
  records: number;
  /** Human-readable report, one line per fact. */
  report: string[];
  /** Where to open `ftvm debug` on the run's log: just before the divergent instruction, or at the last record that agreed. */
  debugIcount?: number;
  /** Where the records first differ: the last record both agree on (if any) and each trace's record there. */
  at?: { prev?: TraceRecord; a: TraceRecord; b: TraceRecord };
}

export interface DiffOptions {
  /** Disassembles the instruction at a code address (from the trace's image). */
  disasm?: (pc: number) => string;
  nameA?: string;
  nameB?: string;
}

const hex = (x: number) => "0x" + (x >>> 0).toString(16).padStart(8, "0");

export function diffTraces(
  ha: TraceHeader,
  hb: TraceHeader,
  a: Iterator<TraceRecord>,
  b: Iterator<TraceRecord>,
  opts: DiffOptions = {},
): DiffResult {
  const nameA = opts.nameA ?? "first trace";
  const nameB = opts.nameB ?? "second trace";
  if (!sameBytes(ha.image, hb.image)) return { identical: false, records: 0, report: [`the traces are of different programs (${ha.program} and ${hb.program})`] };
  if (ha.intervalIcount !== hb.intervalIcount)
    return { identical: false, records: 0, report: [`the traces were taken every ${ha.intervalIcount} and every ${hb.intervalIcount} instructions; use the same --trace-interval`] };
  let n = 0;
  let prev: TraceRecord | undefined;
  for (;;) {
    const ra = a.next();
    const rb = b.next();
    if (ra.done && rb.done) return { identical: true, records: n, report: [`identical (${n} records)`] };
    n++;
    if (ra.done || rb.done) {
      const [ended, goes, rec] = ra.done ? [nameA, nameB, rb.value as TraceRecord] : [nameB, nameA, ra.value as TraceRecord];
      return {
        identical: false,
        records: n,
        report: [`first divergence at record ${n}: ${ended} ends after ${n - 1} records, ${goes} goes on at icount ${rec.icount} (pc ${rec.pc})`],
        debugIcount: prev?.icount ?? 0,
      };
    }
    const x = ra.value, y = rb.value;
    if (x.icount === y.icount && x.pc === y.pc && x.cause === y.cause && x.regsDigest === y.regsDigest && x.memDigest === y.memDigest) {
      prev = x;
      continue;
    }
    return { identical: false, records: n, report: describe(n, prev, x, y, opts), at: { prev, a: x, b: y }, debugIcount: x.atPc >= 0 && x.atPc === y.atPc ? x.icount - 1 : (prev?.icount ?? 0) };
  }
}

function describe(n: number, prev: TraceRecord | undefined, x: TraceRecord, y: TraceRecord, opts: DiffOptions): string[] {
  const dis = (pc: number) => (opts.disasm ? `: ${opts.disasm(pc)}` : "");
  const out: string[] = [];
  if (x.icount !== y.icount) {
    out.push(`first divergence at record ${n}: expected a record at icount ${x.icount} (${causeName(x.cause)}), got one at icount ${y.icount} (${causeName(y.cause)})`);
  } else {
    out.push(`first divergence at record ${n}, icount ${x.icount} (${causeName(x.cause)})`);
  }
  if (x.atPc >= 0 && x.atPc === y.atPc) out.push(`  instruction: pc ${x.atPc}${dis(x.atPc)}  (its result differs)`);
  else if (prev) out.push(`  between icount ${prev.icount} (identical) and icount ${x.icount}; last agreed pc ${prev.pc}${dis(prev.pc)}`);
  if (x.pc !== y.pc) out.push(`  pc: expected ${x.pc}${dis(x.pc)}, got ${y.pc}${dis(y.pc)}`);
  else out.push(`  next pc ${x.pc}${dis(x.pc)}`);
  for (let r = 0; r < Math.max(x.regs.length, y.regs.length); r++) {
    if (x.regs[r] !== y.regs[r]) out.push(`  r${r}: expected ${hex(x.regs[r])} (${x.regs[r]}), got ${hex(y.regs[r])} (${y.regs[r]})`);
  }
  if (x.memDigest !== y.memDigest) out.push(`  memory digest: expected ${x.memDigest}, got ${y.memDigest}`);
  if (x.regsDigest !== y.regsDigest && out.length === 2) out.push(`  state digest: expected ${x.regsDigest}, got ${y.regsDigest} (interrupt or wait state differs)`);
  return out;
}

function causeName(cause: number): string {
  return cause === CAUSE_PERIODIC ? "periodic" : `after ${kindName(cause)}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
