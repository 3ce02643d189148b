// The console in a real browser (Debian's chromium driven by playwright-core).
// Run by console/tests/browser.rs, which starts the console, seeds a DLQ
// with a "bad deploy" and checks SQS and the audit table afterwards.
//
// env: CONSOLE_URL, NODE_MODULES (from scripts/browser-tools.sh),
//      ERROR_CLASS (the bad deploy's), EXPECT (its message count),
//      PRIORITY_EXPECT (the messages in the media:urgent DLQ),
//      SCREENSHOT_DIR (where the PNGs go).
"use strict";
const path = require("node:path");
const assert = require("node:assert/strict");
const { chromium } = require(path.join(process.env.NODE_MODULES, "playwright-core"));
const AXE = path.join(process.env.NODE_MODULES, "axe-core", "axe.min.js");

const URL = process.env.CONSOLE_URL;
const ERROR_CLASS = process.env.ERROR_CLASS;
const EXPECT = Number(process.env.EXPECT);
const PRIORITY_EXPECT = Number(process.env.PRIORITY_EXPECT);
const SHOTS = process.env.SCREENSHOT_DIR;
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"];

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
    console.log(`ok - ${name}`);
  } catch (e) {
    results.push([name, e]);
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split("\n").join("\n  ")}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

(async () => {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
  const as = (user, extra = {}) => browser.newContext({ extraHTTPHeaders: { "X-Forwarded-User": user }, viewport: { width: 1280, height: 800 }, ...extra });
  const operator = await (await as("alice")).newPage();
  const viewer = await (await as("bob")).newPage();

  await check("the overview loads with a strict CSP and shows the DLQ", async () => {
    const response = await operator.goto(`${URL}/`);
    assert.equal(response.status(), 200);
    const csp = response.headers()["content-security-policy"];
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(await operator.locator("h1").innerText(), "Overview");
    assert.equal(await operator.locator("#pool-media").count(), 1);
    await shot(operator, "overview.png");
  });

  await check("an operator triages the DLQ, filters by error class and opens a message", async () => {
    await operator.click("text=Dead letters");
    await operator.locator(`table.list a[href="/dlq/media"]`).click();
    await operator.waitForURL(/\/dlq\/media$/);
    const row = operator.locator("tr", { hasText: ERROR_CLASS });
    assert.equal(await row.locator("td.num").innerText(), String(EXPECT));
    await shot(operator, "dlq-triage.png");
    await operator.fill("form.filters input[name=error_class]", ERROR_CLASS);
    await operator.click("text=Browse matching messages");
    await operator.waitForURL(/\/dlq\/media\/messages\?/);
    assert.equal(await operator.locator("tbody tr").count(), EXPECT);
    await operator.locator("tbody tr a.mono").first().click();
    await operator.waitForURL(/\/dlq\/media\/messages\/[^?]+$/);
    assert.match(await operator.locator("pre.payload").innerText(), /\[redacted\]/);
    await shot(operator, "dlq-message.png");
    await operator.goBack();
  });

  let replayUrl;
  await check("a dry run of the filter previews what moves where, then a typed confirmation replays it", async () => {
    await operator.click("text=Preview replay of everything matching the filter");
    await operator.waitForURL(/\/replay\/preview$/);
    const text = await operator.locator("main").innerText();
    assert.match(text, /Dry run — nothing was moved/);
    assert.match(text, new RegExp(`${EXPECT} of \\d+ message\\(s\\)`));
    await shot(operator, "dlq-preview.png");
    const button = operator.locator("button", { hasText: `Replay ${EXPECT} message(s)` });
    assert.equal(await button.isDisabled(), true, "disabled until the count is typed (console.js)");
    await operator.fill("input[name=confirm]", String(EXPECT));
    assert.equal(await button.isDisabled(), false);
    await button.click();
    await operator.waitForURL(/\/replays\/\d+$/);
    replayUrl = operator.url();
    for (let i = 0; i < 120; i++) {
      if ((await operator.locator("#replay-state").getAttribute("data-finished")) === "true") break;
      await operator.waitForTimeout(500);
      await operator.reload();
    }
    assert.equal(await operator.locator("#replay-moved").innerText(), String(EXPECT));
    await shot(operator, "replay-finished.png");
  });

  await check("the audit page names the operator", async () => {
    await operator.click("text=Audit");
    const first = await operator.locator("tbody tr").first().innerText();
    assert.match(first, /alice/);
    assert.match(first, /replay/);
    assert.ok(replayUrl);
  });

  await check("a priority queue's DLQ is a page of its own, and purging it needs pool:queue typed", async () => {
    await operator.goto(`${URL}/dlq`);
    await operator.locator(`table.list a[href="/dlq/media:urgent"]`).click();
    await operator.waitForURL(/\/dlq\/media:urgent$/);
    assert.equal(await operator.locator("h1").innerText(), "Dead letters · media:urgent");
    assert.equal(await operator.locator("tr", { hasText: "urgent_failure" }).locator("td.num").innerText(), String(PRIORITY_EXPECT));
    const purge = operator.locator(`form[action="/dlq/media:urgent/purge"]`);
    const button = purge.locator("button", { hasText: "Purge" });
    await purge.locator("input[name=confirm]").fill("media");
    assert.equal(await button.isDisabled(), true, "the pool's name alone does not confirm (console.js)");
    await purge.locator("input[name=confirm]").fill("media:urgent");
    assert.equal(await button.isDisabled(), false);
    await button.click();
    await operator.waitForURL(/\/dlq\/media:urgent\/purge$/);
    assert.match(await operator.locator("main").innerText(), new RegExp(`Purged ≈${PRIORITY_EXPECT} message\\(s\\) from \\S+-jobfleet-media-urgent-dlq`));
    await shot(operator, "dlq-priority-purged.png");
  });

  await check("a viewer sees no action buttons and a forged POST is refused", async () => {
    await viewer.goto(`${URL}/dlq/media`);
    assert.equal(await viewer.locator("form[method=post]").count(), 0);
    assert.equal(await viewer.locator("button", { hasText: /replay|purge|redrive/i }).count(), 0);
    const token = await viewer.locator("meta[name=csrf-token]").getAttribute("content");
    const status = await viewer.evaluate(async (csrf) => {
      const r = await fetch("/api/dlq/media/purge", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify({ confirm: "media" }) });
      return r.status;
    }, token);
    assert.equal(status, 403);
  });

  await check("an operator's POST without the CSRF token is refused", async () => {
    const status = await operator.evaluate(async () => {
      const r = await fetch("/dlq/media/purge", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "confirm=media" });
      return r.status;
    });
    assert.equal(status, 403);
  });

  await check("axe-core finds no serious or critical violation on the pages", async () => {
    // axe is injected as a script, which the console's CSP (rightly) forbids: this context bypasses it.
    const page = await (await as("alice", { bypassCSP: true })).newPage();
    for (const p of ["/", "/jobs", "/dlq", "/dlq/media", "/dlq/media:urgent", `/dlq/media/messages?error_class=${ERROR_CLASS}`, "/audit"]) {
      await page.goto(`${URL}${p}`);
      await page.addScriptTag({ path: AXE });
      const found = await page.evaluate(async () => (await window.axe.run()).violations.filter((v) => ["serious", "critical"].includes(v.impact)).map((v) => `${v.id}: ${v.help}`));
      assert.deepEqual(found, [], p);
    }
  });

  await browser.close();
  const failed = results.filter(([, e]) => e).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
