// What the launcher may act on: who is the live primary, who its paired backup, read from
// the arbiter's current epoch and membership and from the operating system (is the
// process alive), not from a host's last status line. A status line can be a quarter of
// a second old, and a host that stalled may still be reporting "paired" after it gave up
// on its backup (issue 11: the launcher SIGKILLed such a host as a paired primary and
// left no host to serve). The arbiter is the one place where "these two hosts share the
// state of the current epoch" is decided, so a kill that must not take the last live
// host is decided there too.
import type { ArbiterState } from "../arbiter/core.js";

/** Roles in which a host is no longer (or not yet) part of a working pair, whatever the arbiter's membership says. */
const UNPAIRED_ROLES = new Set(["draining", "electing", "alone", "halted", "finished", "joining", "idle"]);

export interface ClusterFacts {
  epoch: number;
  /** The holder of the current epoch, if its process is alive. */
  primaryPid?: number;
  /** The other member of the current epoch, if there is one and its process is alive. */
  backupPid?: number;
  /** Both members alive, and neither has said since that it left the pair. */
  paired: boolean;
  /** Why not paired (for the log). */
  why?: string;
}

export interface HostView {
  pid: number;
  /** The latest role the host reported (news carries it at once; status lines every 250 ms). */
  role?: string;
  /** The epoch the host last reported working in. */
  epoch?: number;
}

/**
 * Facts from the arbiter's state. `hosts` maps host ids to what the launcher knows of them
 * (their pid; a host id also begins with its pid, the fallback); `alive` asks the OS.
 */
export function clusterFacts(state: ArbiterState, hosts: ReadonlyMap<string, HostView>, alive: (pid: number) => boolean): ClusterFacts {
  const pidOf = (id: string): number | undefined => hosts.get(id)?.pid ?? (Number.parseInt(id, 10) || undefined);
  const holderPid = state.holder ? pidOf(state.holder) : undefined;
  const primaryPid = holderPid !== undefined && alive(holderPid) ? holderPid : undefined;
  const other = state.members.find((m) => m !== state.holder);
  const otherPid = other !== undefined ? pidOf(other) : undefined;
  const backupPid = otherPid !== undefined && alive(otherPid) ? otherPid : undefined;
  const facts: ClusterFacts = { epoch: state.epoch, primaryPid, backupPid, paired: false };
  if (state.epoch === 0) facts.why = "no epoch has been granted yet";
  else if (primaryPid === undefined) facts.why = `the holder of epoch ${state.epoch} is not running`;
  else if (other === undefined) facts.why = `epoch ${state.epoch} has no backup (its primary runs alone)`;
  else if (backupPid === undefined) facts.why = `the backup of epoch ${state.epoch} is not running`;
  else {
    const left = [state.holder, other].find((id) => UNPAIRED_ROLES.has(hosts.get(id)?.role ?? ""));
    // Both must also have said they work in the granted epoch: between the grant and the
    // primary's "paired" the joiner does not know it is a member yet (it recovers from a
    // kill there, but the launcher's count of restored pairs would miss that one).
    const behind = [state.holder, other].find((id) => hosts.get(id)?.epoch !== state.epoch);
    if (left !== undefined) facts.why = `host ${left} of epoch ${state.epoch} reports "${hosts.get(left)!.role}"`;
    else if (behind !== undefined) facts.why = `host ${behind} has not yet reported working in epoch ${state.epoch}`;
    else facts.paired = true;
  }
  return facts;
}
