// Lighthouse over several pages in one Chromium: the CLI starts a browser and a Node process per
// page, which cost more than the audits. Each page runs in a browser context of its own (no
// cookie or storage of one page reaches the next). Reads a JSON job file, writes one JSON report
// per page:  node lighthouse_pages.mjs JOB.json
// JOB: {"chromeFlags": [...], "categories": [...], "skipAudits": [...],
//       "pages": [{"url": "...", "cookie": "..." | null, "out": "report.json"}]}
import fs from "node:fs";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import puppeteer from "puppeteer-core";

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
    const result = await lighthouse(
      page.url,
      { port: chrome.port, output: "json", logLevel: "error" },
      { extends: "lighthouse:default", settings: { ...settings, extraHeaders } },
      tab,
    );
    fs.writeFileSync(page.out, result.report);
    await context.close();
  }
  await browser.disconnect();
} finally {
  await chrome.kill();
}
