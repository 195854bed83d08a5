// The etcd arbiter's URL (etcd://HOST:PORT[,HOST:PORT...][/PREFIX]) and the --arbiter
// check every command makes before connecting: a bad URL is one clear sentence.
import { describe, expect, it } from "vitest";
import { ETCD_ENDPOINTS_MAX, ETCD_PREFIX_DEFAULT, formatEtcdUrl, parseEtcdUrl } from "../src/arbiter/etcd.js";
import { arbiterUrlProblem, isEtcdUrl } from "../src/arbiter/open.js";
import { arbiterOption } from "../src/cli/hosts.js";

describe("etcd:// URLs", () => {
  it("parse endpoints and a key prefix (default ftvm), and format back", () => {
    expect(parseEtcdUrl("etcd://127.0.0.1:2379")).toEqual({ endpoints: [{ host: "127.0.0.1", port: 2379 }], prefix: ETCD_PREFIX_DEFAULT });
    const u = parseEtcdUrl("etcd://a:1,b.example:22379,[::1]:3/team/ft-1/");
    expect(u).toEqual({ endpoints: [{ host: "a", port: 1 }, { host: "b.example", port: 22379 }, { host: "[::1]", port: 3 }], prefix: "team/ft-1" });
    expect(formatEtcdUrl(u as Exclude<typeof u, string>)).toBe("etcd://a:1,b.example:22379,[::1]:3/team/ft-1");
  });

  it("refuse what is not one, saying what was expected", () => {
    const bad: [string, RegExp][] = [
      ["etcd://", /etcd:\/\/HOST:PORT\[,HOST:PORT...\]\[\/PREFIX\]/],
      ["etcd://host", /"host" is not HOST:PORT/],
      ["etcd://h:0", /port 1 to 65535/],
      ["etcd://h:70000", /port 1 to 65535/],
      ["etcd://h:1,,h:2", /"" is not HOST:PORT/],
      ["etcd://h:1/a//b", /key prefix "a\/\/b"/],
      ["etcd://h:1/a b", /key prefix/],
      [`etcd://h:1/${"x".repeat(300)}`, /key prefix/],
      [`etcd://${Array.from({ length: ETCD_ENDPOINTS_MAX + 1 }, (_, i) => `h:${i + 1}`).join(",")}`, new RegExp(`at most ${ETCD_ENDPOINTS_MAX} etcd endpoints`)],
    ];
    for (const [url, why] of bad) expect(parseEtcdUrl(url), url).toMatch(why);
  });

  it("--arbiter takes ws:// (the embedded arbiter) or etcd://, and names both when given neither", () => {
    expect(isEtcdUrl("etcd://h:1")).toBe(true);
    expect(arbiterUrlProblem("ws://127.0.0.1:4000")).toBeUndefined();
    expect(arbiterUrlProblem("etcd://h:1,h:2/p")).toBeUndefined();
    expect(arbiterUrlProblem("http://h:1")).toMatch(/ws:\/\/HOST:PORT \(the embedded arbiter\) or etcd:\/\//);
    expect(() => arbiterOption("etcd://h")).toThrow(/^--arbiter: "h" is not HOST:PORT/);
    expect(arbiterOption("etcd://h:1")).toBe("etcd://h:1");
  });
});
