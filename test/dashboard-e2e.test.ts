// The dashboard in a real browser: Debian's chromium driven by playwright-core (never a
// downloaded browser). A real cluster runs with --ui; the test clicks "Crash primary" and
// watches the failover appear on the timeline with its durations, the console go on
// counting and a new backup join; then the run's --report file opens offline and shows
// the same run. Screenshots go to a temporary directory (printed), not into the repo.
import { existsSync, mkdtempSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runClusterDetailed } from "../src/host/launcher.js";
import { simulateWithEvents } from "../src/cli/sim-events.js";
import { writeReport } from "../src/host/dashboard-report.js";
import { longTicker } from "./support/long-ticker.js";
import type { RunEvent } from "../src/host/run-events.js";

// Code run in the page is typed with just what it uses: the project type-checks without
// the DOM library (a module-local declaration, so Node code cannot use it by mistake).
type El = { dataset: Record<string, string | undefined>; textContent: string | null; hidden: boolean };
declare const document: { querySelectorAll(s: string): Iterable<El> & { length: number }; querySelector(s: string): El | null };

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`dashboard tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const TICKS = 600;
const dir = mkdtempSync(join(tmpdir(), "ftvm-dashboard-"));

/** ticker.s made longer (600 ticks, 12 s of guest time), so there is time to click. */
const longTickerHere = () => longTicker(TICKS, dir);

describe.skipIf(!HAVE_CHROMIUM)("the dashboard in chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    console.log(`dashboard screenshots: ${dir}`);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("shows two hosts; Crash primary gives a failover on the timeline with its durations; the console goes on; a new backup joins; the report opens offline", async () => {
    const report = join(dir, "report.html");
    let url!: (u: string) => void;
    const urlP = new Promise<string>((r) => (url = r));
    let out = "";
    let info = "";
    const run = runClusterDetailed({
      program: longTickerHere(),
      ui: { port: 0 },
      onUi: (u) => url(u),
      report,
      write: (b) => (out += Buffer.from(b).toString("latin1")),
      info: (s) => (info += s),
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(await urlP);

    // Two live hosts: a primary and a backup, protected.
    await page.waitForFunction(() => {
      const roles = [...document.querySelectorAll(".card:not(.gone)")].map((c) => (c as El).dataset.role);
      return roles.length === 2 && roles.includes("primary") && roles.includes("backup") && document.querySelector("#protection")!.textContent!.startsWith("Protected");
    }, undefined, { timeout: 60_000 });
    await page.waitForFunction(() => Number((document.querySelector("#console-count") as El).dataset.lines) > 5, undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(dir, "1-pair.png"), fullPage: true });
    const before = await page.evaluate(() => {
      const pid = (role: string) => Number((document.querySelector(`.card[data-role="${role}"]:not(.gone)`) as El).dataset.pid);
      return { primary: pid("primary"), backup: pid("backup"), lines: Number((document.querySelector("#console-count") as El).dataset.lines) };
    });

    // Slow the backup first: the slowing ends by itself when that backup goes live.
    await page.click('button[data-action="slow-backup"]');
    await page.waitForFunction(() => document.querySelector("#slow")!.textContent === "Back to full speed", undefined, { timeout: 30_000 });
    await page.click('button[data-action="crash-primary"]');
    // The failover on the timeline (go-live mark) and in the list, with its durations.
    await page.waitForSelector('#timeline [data-failover="1"]', { timeout: 60_000 });
    const failoverText = await page.textContent("#failovers li");
    expect(failoverText).toMatch(/detection \d+ ms, replay \d+ ms, test-and-set \d+ ms; live \d+ ms after the kill/);
    for (const k of ["kill", "detection", "tas", "live"]) expect(await page.locator(`#timeline [data-kind="${k}"]`).count(), k).toBeGreaterThan(0);
    const title = await page.locator('#timeline [data-kind="live"] title').first().textContent();
    expect(title).toMatch(/went live; detection \d+ ms/);
    // A new backup joins the new primary (the old backup), by clone. (Once this timed out
    // at load average 25-37: the launcher's log says what the cluster was doing.)
    await page
      .waitForFunction(
        (b) => [...document.querySelectorAll(".card:not(.gone)")].some((c) => (c as El).dataset.role === "backup" && Number((c as El).dataset.pid) !== b.backup && Number((c as El).dataset.pid) !== b.primary),
        before,
        { timeout: 60_000 },
      )
      .catch((e: Error) => {
        throw new Error(`${e.message}\nno new backup joined; the launcher's log:\n${info.split("\n").slice(-40).join("\n")}`);
      });
    expect(await page.locator(`.card[data-pid="${before.backup}"]`).getAttribute("data-role")).toMatch(/^(primary|alone)$/);
    await page.waitForSelector('#timeline [data-kind="clone"]', { timeout: 60_000 });
    await page.waitForSelector('#timeline [data-kind="slow-backup"]', { timeout: 30_000 });
    // The console went on counting after the crash.
    await page.waitForFunction((n) => Number((document.querySelector("#console-count") as El).dataset.lines) > n + 20, before.lines, { timeout: 60_000 });
    await page.screenshot({ path: join(dir, "2-after-failover.png"), fullPage: true });
    if (process.env.FTVM_DASHBOARD_SCREENSHOT) copyFileSync(join(dir, "2-after-failover.png"), process.env.FTVM_DASHBOARD_SCREENSHOT);

    const r = await run;
    expect(r.code, info).toBe(0);
    const ticks = out.trimEnd().split("\n").map((l) => Number(new RegExp(`^tick (\\d+) of ${TICKS}`).exec(l)?.[1]));
    expect(ticks).toEqual(Array.from({ length: TICKS }, (_, i) => i + 1));
    expect(r.failovers).toHaveLength(1);
    // The page got the end of the run too: the summary it shows is the one printed.
    await page.waitForFunction(() => !(document.querySelector("#summary-panel") as El).hidden, undefined, { timeout: 30_000 });
    expect((await page.textContent("#summary"))!.trim()).toBe(r.summary.trim());
    expect(pageErrors).toEqual([]);

    // The report: offline (no network at all), the same run.
    const ctx = await browser.newContext({ offline: true, viewport: { width: 1400, height: 1300 } });
    const requests: string[] = [];
    ctx.on("request", (q) => {
      if (!q.url().startsWith("file:") && !q.url().startsWith("data:")) requests.push(q.url());
    });
    const rp = await ctx.newPage();
    rp.on("pageerror", (e) => pageErrors.push(e.message));
    await rp.goto(pathToFileURL(report).href);
    await rp.waitForSelector('#timeline [data-failover="1"]');
    expect(await rp.textContent("#failovers li")).toContain(failoverText!.replace(/^[\d.]+ s: /, ""));
    expect((await rp.textContent("#summary"))!.trim()).toBe(r.summary.trim());
    expect(await rp.locator("#plot-lag canvas").count()).toBeGreaterThan(0);
    expect(Number(await rp.getAttribute("#console-count", "data-lines"))).toBe(TICKS);
    await rp.screenshot({ path: join(dir, "3-report.png"), fullPage: true });
    expect(requests).toEqual([]);
    expect(pageErrors).toEqual([]);
    await ctx.close();
  }, 240_000);

  it("ftvm sim --seed S --report: the simulated run drawn the same way, offline", async () => {
    // Seed 7 kills the primary and the backup goes live (see docs/events.md's example).
    const seen: RunEvent[] = [];
    const { result, events } = simulateWithEvents(7, {}, (r) => [`seed ${r.seed}`], (e) => seen.push(e));
    expect(result.stats.failovers).toBe(1);
    const f = seen.find((e): e is Extract<RunEvent, { type: "failover" }> => e.type === "failover")!;
    const file = join(dir, "sim-report.html");
    writeReport(file, events);
    const ctx = await browser.newContext({ offline: true, viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('#timeline [data-failover="1"]');
    expect(await page.textContent("#failovers li")).toContain(`detection ${f.detectionMs} ms, replay ${f.replayMs} ms, test-and-set ${f.tasMs} ms`);
    const lanes = await page.locator("#timeline .lane-label").allTextContents();
    expect(lanes.length).toBe(3); // the cluster's lane, P and B
    expect(await page.textContent("#program")).toBe("sim sim-guest.s --seed 7");
    await page.screenshot({ path: join(dir, "4-sim-report.png"), fullPage: true });
    expect(errors).toEqual([]);
    await ctx.close();
  });
});
