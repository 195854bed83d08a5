// The dashboard's bounds under load, in chromium: a page opened on a 30-minute run (two
// hosts reporting every 250 ms, a failover every 20 s) that then receives a guest
// printing 10,000 lines per second. The page must keep its buffers within their named
// bounds and keep answering; the figures (redraw times) are printed, not asserted (the
// machine may be busy).
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard } from "../src/host/dashboard-server.js";
import type { ClusterControl } from "../src/host/launcher.js";
import { RunEvents } from "../src/host/run-events.js";

type Dash = { state(): { consoleLines: string[]; consoleTotalLines: number; consoleDroppedChars: number; series: { t: number[] }; marks: unknown[]; hosts: Map<string, unknown> }; renderStats: { count: number; totalMs: number; maxMs: number }; bounds: Record<string, number> };
declare const window: { ftvmDashboard: Dash };
declare const document: { querySelectorAll(s: string): { length: number } };

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`dashboard load test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const RUN_MS = 30 * 60 * 1000;
const FLOOD_LINES_PER_SEC = 10_000;
const FLOOD_MS = 3000;

describe.skipIf(!HAVE_CHROMIUM)("the dashboard under load", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("a 30-minute run, then 10,000 console lines/s: buffers stay bounded, every line is counted", async () => {
    let now = 0;
    const events = new RunEvents(0, () => now);
    events.emit({ type: "run", source: "ft", program: "load", startedAt: new Date().toISOString(), options: {} });
    // Thirty minutes of history: hosts take turns as primary every 20 s (a failover), and
    // a new backup joins each time.
    let primary = 1;
    let backup = 2;
    let next = 3;
    let icount = 0;
    for (now = 0; now < RUN_MS; now += 250) {
      icount += 2_500_000;
      if (now > 0 && now % 20_000 === 0) {
        events.emit({ type: "fault", fault: "kill", target: "primary", by: "script", pid: primary });
        events.emit({ type: "role", host: `h${primary}`, pid: primary, role: "dead", from: "primary", epoch: 1 });
        events.emit({ type: "role", host: `h${backup}`, pid: backup, role: "alone", from: "backup", epoch: 1 });
        events.emit({ type: "failover", host: `h${backup}`, pid: backup, epoch: 1, icount, detectionMs: 30, replayMs: 2, tasMs: 5, resentBytes: 10, fromKillMs: 40 });
        events.emit({ type: "clone", host: `h${backup}`, pid: backup, epoch: 1, icount, memBytes: 1 << 20, cloneMs: 90 });
        events.emit({ type: "role", host: `h${backup}`, pid: backup, role: "primary", from: "alone", epoch: 1 });
        primary = backup;
        backup = next++;
        events.emit({ type: "role", host: `h${backup}`, pid: backup, role: "backup", epoch: 1 });
      }
      events.emit({ type: "status", host: `h${primary}`, pid: primary, role: "primary", epoch: 1, icount, icountPerSec: 10_000_000, lagIcount: 1000, lagMs: 0.5, logBytesPerSec: 50_000, heldOutputs: 3, throttle: 0 });
      events.emit({ type: "status", host: `h${backup}`, pid: backup, role: "backup", epoch: 1, icount: icount - 1000 });
      events.emit({ type: "console", text: `line at ${now}\n` });
    }
    const historyLines = RUN_MS / 250;
    const control: ClusterControl = { crash: () => undefined, kill: async () => "test", partition: async () => "test", drop: async () => "test", slowBackup: async () => "test" };
    const ui = await startDashboard({ events, control, port: 0 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(ui.url);
    await page.waitForFunction(() => window.ftvmDashboard?.renderStats.count > 0, undefined, { timeout: 60_000 });

    // The flood: 10,000 lines per second, sent as the sink would (many small releases).
    let sent = 0;
    const start = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(FLOOD_MS, Date.now() - start) * (FLOOD_LINES_PER_SEC / 1000);
        let text = "";
        while (sent < due) text += `flood line ${++sent} of the guest printing fast\n`;
        now += 10;
        if (text) events.emit({ type: "console", text });
        if (Date.now() - start >= FLOOD_MS) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    // Answering while flooded: each probe is a round trip through the page's event loop.
    const probeMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await page.evaluate(() => document.querySelectorAll("*").length);
      probeMs.push(Date.now() - t0);
    }
    const total = historyLines + sent;
    await page.waitForFunction(
      (n) => {
        const s = window.ftvmDashboard.state();
        return s.consoleTotalLines + 0 >= n || s.consoleDroppedChars > 0;
      },
      sent,
      { timeout: 60_000 },
    );
    // Let the last batch land.
    await page.waitForTimeout(500);
    const r = await page.evaluate(() => {
      const d = window.ftvmDashboard;
      const s = d.state();
      return { lines: s.consoleLines.length, total: s.consoleTotalLines, dropped: s.consoleDroppedChars, points: s.series.t.length, marks: s.marks.length, hosts: s.hosts.size, svg: document.querySelectorAll("#timeline svg *").length, render: d.renderStats, bounds: d.bounds };
    });
    console.log(
      `dashboard under load: ${historyLines} history lines + ${sent} flood lines (${FLOOD_LINES_PER_SEC}/s for ${FLOOD_MS} ms); page kept ${r.lines} lines, counted ${r.total}, ` +
        `${r.dropped} chars skipped; ${r.points} plot points, ${r.marks} marks, ${r.svg} timeline elements; redraws ${r.render.count}, mean ${(r.render.totalMs / r.render.count).toFixed(1)} ms, max ${r.render.maxMs.toFixed(1)} ms; ` +
        `probe round trips ${probeMs.join(", ")} ms`,
    );
    expect(errors).toEqual([]);
    expect(r.lines).toBeLessThanOrEqual(r.bounds.CONSOLE_LINES_MAX);
    expect(r.points).toBeLessThanOrEqual(r.bounds.PLOT_POINTS_MAX);
    expect(r.points).toBeGreaterThan(r.bounds.PLOT_POINTS_MAX / 4);
    expect(r.marks).toBeLessThanOrEqual(r.bounds.TIMELINE_MARKS_MAX);
    // Every line is counted (the history's console text is within its bound here), unless
    // the server skipped console text for a page that fell behind, and then the page says so.
    if (r.dropped === 0) expect(r.total).toBe(total);
    else expect(r.total).toBeGreaterThanOrEqual(historyLines);
    await ui.close();
  }, 180_000);
});
