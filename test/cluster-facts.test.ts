// The launcher's facts about the pair (src/host/cluster-facts.ts): a kill is allowed only
// when the arbiter's current epoch has two members whose processes run and who both say
// they work in that epoch as primary and backup.
import { describe, expect, it } from "vitest";
import { clusterFacts, type HostView } from "../src/host/cluster-facts.js";

const state = (epoch: number, holder: string, members: string[]) => ({ cluster: "c1", epoch, holder, members });
const views = (xs: [string, HostView][]) => new Map(xs);
const everyoneAlive = () => true;

describe("cluster facts for the launcher", () => {
  const pair = views([
    ["11-a", { pid: 11, role: "primary", epoch: 3 }],
    ["22-b", { pid: 22, role: "backup", epoch: 3 }],
  ]);

  it("a granted pair whose members run and report the epoch is paired; pids come from the arbiter's holder", () => {
    expect(clusterFacts(state(3, "11-a", ["11-a", "22-b"]), pair, everyoneAlive)).toEqual({ epoch: 3, primaryPid: 11, backupPid: 22, paired: true });
    // The holder decides who is primary, whatever the roles were called before.
    expect(clusterFacts(state(3, "22-b", ["22-b", "11-a"]), pair, everyoneAlive)).toMatchObject({ primaryPid: 22, backupPid: 11 });
  });

  it("is not paired when the epoch has one member, a member is dead, has left the pair, or has not caught up with the grant", () => {
    expect(clusterFacts(state(0, "", []), pair, everyoneAlive)).toMatchObject({ paired: false, why: /no epoch/ });
    expect(clusterFacts(state(3, "11-a", ["11-a"]), pair, everyoneAlive)).toMatchObject({ paired: false, why: /no backup/ });
    expect(clusterFacts(state(3, "11-a", ["11-a", "22-b"]), pair, (pid) => pid !== 22)).toMatchObject({ paired: false, backupPid: undefined, why: /backup .* not running/ });
    expect(clusterFacts(state(3, "11-a", ["11-a", "22-b"]), pair, (pid) => pid !== 11)).toMatchObject({ paired: false, primaryPid: undefined, why: /holder .* not running/ });
    // A status line that still says "paired" is not enough: the host's latest report wins.
    const draining = views([...pair, ["22-b", { pid: 22, role: "draining", epoch: 3 }]]);
    expect(clusterFacts(state(3, "11-a", ["11-a", "22-b"]), draining, everyoneAlive)).toMatchObject({ paired: false, why: /reports "draining"/ });
    const behind = views([...pair, ["22-b", { pid: 22, role: "backup", epoch: 2 }]]);
    expect(clusterFacts(state(3, "11-a", ["11-a", "22-b"]), behind, everyoneAlive)).toMatchObject({ paired: false, why: /not yet reported working in epoch 3/ });
  });

  it("falls back to the pid at the start of a host id it has not heard from", () => {
    const f = clusterFacts(state(1, "11-a", ["11-a", "22-b"]), new Map(), everyoneAlive);
    expect(f).toMatchObject({ primaryPid: 11, backupPid: 22, paired: false });
  });
});
