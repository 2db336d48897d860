// Lighthouse over several pages in one Chromium: the CLI starts a browser and a Node process per
// page, which cost more than the audits. Each page runs in a browser context of its own (no
// cookie or storage of one page reaches the next). Reads a JSON job file, writes one JSON report
// per page:  node lighthouse_pages.mjs JOB.json
// JOB: {"chromeFlags": [...], "categories": [...], "skipAudits": [...],
//       "pages": [{"url": "...", "cookie": "..." | null, "javaScript": true | false,
//                  "fullPageScreenshot": true | false, "out": "report.json"}]}
// A page with "javaScript": false is audited as a browser without JavaScript shows it: the tab's
// scripts are switched off (puppeteer's setJavaScriptEnabled) while the page loads.
import fs from "node:fs";
import * as chromeLauncher from "chrome-launcher";
import { navigation } from "lighthouse";
import puppeteer from "puppeteer-core";
import { pageFunctions } from "lighthouse/core/lib/page-functions.js";

// Lighthouse measures the machine before each page: a second of busy loops in the page, whose
// index only scales the performance category's simulated timings (not run here). A fixed index
// (a typical desktop's) takes its place; no audit of the categories run here reads it.
pageFunctions.computeBenchmarkIndex = function computeBenchmarkIndex() {
  return 1500;
};

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const settings = {
  formFactor: "mobile",
  onlyCategories: job.categories,
  skipAudits: job.skipAudits.length ? job.skipAudits : null,
  maxWaitForLoad: 30000,
  // The pages are rendered on the server and load nothing late: a quarter of a second of quiet
  // is plenty, instead of the defaults' full second after each phase.
  pauseAfterFcpMs: 250,
  pauseAfterLoadMs: 250,
  networkQuietThresholdMs: 250,
  cpuQuietThresholdMs: 250,
};
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: job.chromeFlags,
});
try {
  const browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${chrome.port}` });
  for (const page of job.pages) {
    const context = await browser.createBrowserContext();
    const tab = await context.newPage();
    const extraHeaders = page.cookie ? { Cookie: page.cookie } : null;
    // Lighthouse runs scripts of its own in the tab (it enables the debugger before the page
    // loads, and runs axe on timers after), so a page without JavaScript is loaded by a
    // requestor that switches scripts off for the load only: the page's own never run.
    const requestor =
      page.javaScript === false
        ? async () => {
            await tab.setJavaScriptEnabled(false);
            await tab.goto(page.url, { waitUntil: "load" });
            await tab.setJavaScriptEnabled(true);
          }
        : page.url;
    const result = await navigation(tab, requestor, {
      flags: { port: chrome.port, output: "json", logLevel: "error" },
      config: {
        extends: "lighthouse:default",
        // The full-page screenshot (slow: the page is laid out again at its full height) only
        // where the test reads it; no audit of the categories run here scores it.
        settings: {
          ...settings,
          extraHeaders,
          disableFullPageScreenshot: !page.fullPageScreenshot,
        },
      },
    });
    fs.writeFileSync(page.out, result.report);
    await context.close();
  }
  await browser.disconnect();
} finally {
  await chrome.kill();
}
