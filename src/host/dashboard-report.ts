// `--report FILE.html`: the dashboard's page for a finished run, in one file that opens
// offline (file://, no network): the page's script and styles, uPlot, and the run's
// events (the bounded history the live page would get, see RunEvents.history) inline.
import { readFileSync, writeFileSync } from "node:fs";
import type { RunEvent, RunEvents } from "./run-events.js";
import { dashboardFiles } from "./dashboard-server.js";
import { HostError } from "./errors.js";

/** Text that goes inside a <script> element: no "</script" or "<!--" can end or confuse it. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/** The report's HTML for these events. */
export function reportHtml(events: RunEvent[], meta: { droppedEvents: number; droppedConsoleChars: number }): string {
  const f = dashboardFiles();
  const read = (name: string) => readFileSync(f[name][0], "utf8");
  const page = read("/");
  const data = scriptSafe(JSON.stringify({ kind: "history", events, ...meta, actions: [] }));
  return page
    .replace(/<link rel="stylesheet" href="\/uplot\.css">/, () => `<style>${read("/uplot.css")}</style>`)
    .replace(/<link rel="stylesheet" href="\/style\.css">/, () => `<style>${read("/style.css")}</style>`)
    .replace(/<script src="\/uplot\.js"><\/script>/, () => `<script>${scriptSafe(read("/uplot.js"))}</script>`)
    .replace(/<script type="module" src="\/app\.js"><\/script>/, () => `<script id="ftvm-report" type="application/json">${data}</script>\n<script type="module">${scriptSafe(read("/app.js"))}</script>`);
}

/** Writes the report of a run (its events so far: call it at the end). A file that cannot be written is a one-line error. */
export function writeReport(file: string, events: RunEvents | { history(): ReturnType<RunEvents["history"]> }): void {
  const h = events.history();
  try {
    writeFileSync(file, reportHtml(h.events, { droppedEvents: h.droppedEvents, droppedConsoleChars: h.droppedConsoleChars }));
  } catch (e) {
    throw new HostError(`--report ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 1);
  }
}
