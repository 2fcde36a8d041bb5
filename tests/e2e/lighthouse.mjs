// Lighthouse through its Node API, for tests/e2e/test_lighthouse.py: one Node process and one
// Chromium (Debian's, started by Puppeteer) audit every page, one after the other, which
// saves Lighthouse's start-up for each page. Each page gets a fresh browser context, so that
// no cookie of one page reaches the next; a signed-in page gets the session cookie it names
// (Lighthouse's recipe for pages behind a sign-in: it audits the Puppeteer page it is given).
//
// stdin: {"chromium": path, "args": [...], "reports": folder, "runs": [{"name", "url",
// "mobile", "cookie": {"name", "value"} or null}]}. Each report (Lighthouse's JSON, "LHR") is
// written to <reports>/<name>.json; stdout: one line of JSON per page, {"name", "seconds"} or
// {"name", "error"}.
import fs from 'node:fs';
import path from 'node:path';

import lighthouse from 'lighthouse';
// The configuration behind the CLI's --preset=desktop.
import desktopConfig from 'lighthouse/core/config/desktop-config.js';
import puppeteer from 'puppeteer-core';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const {chromium, args, reports, runs} = JSON.parse(input);

const flags = {
  output: 'json',
  logLevel: 'error',
  onlyCategories: ['accessibility', 'best-practices'],
  disableFullPageScreenshot: true,
  // Nothing is timed here: a page is audited once loaded and quiet for a tenth of a second
  // (Lighthouse waits a second by default, for the performance figures).
  pauseAfterFcpMs: 100,
  pauseAfterLoadMs: 100,
  networkQuietThresholdMs: 100,
  cpuQuietThresholdMs: 100,
};

fs.mkdirSync(reports, {recursive: true});
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args,
  defaultViewport: null,
});
try {
  for (const run of runs) {
    const started = Date.now();
    const context = await browser.createBrowserContext();
    try {
      if (run.cookie) {
        const {hostname} = new URL(run.url);
        await context.setCookie({...run.cookie, domain: hostname, path: '/', httpOnly: true});
      }
      const page = await context.newPage();
      const result = await lighthouse(run.url, flags, run.mobile ? undefined : desktopConfig, page);
      fs.writeFileSync(path.join(reports, `${run.name}.json`), result.report);
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(JSON.stringify({name: run.name, seconds}) + '\n');
    } catch (error) {
      process.stdout.write(JSON.stringify({name: run.name, error: String(error.stack || error)}) + '\n');
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
}
