// Drive a running code-server (a real VS Code) with the Flux extension installed, through
// headless Chromium: the failing webhook's diagnostic is in the Problems panel and squiggled
// on the raising line, the status bar counts it (as the server words it), hovering it shows the recorded input, and `Flux: Replay Incident…`
// from the palette runs and shows its verdict; `Flux: Show Trace…` opens the report webview;
// `Flux: Debug Request…` stops the debugger on the failing line with the recorded values.
// Screenshots of each step and result.json go to --out. Exits 1 when a check fails.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    project: { type: "string" },
    "failing-id": { type: "string" },
    out: { type: "string" },
    line: { type: "string", default: "12" },
  },
});
const out = opts.out;
const result = { checks: {}, notes: [] };
const check = (name, ok, detail) => {
  result.checks[name] = { ok: Boolean(ok), detail };
  console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
const shot = (name) => page.screenshot({ path: join(out, name) });

async function palette(command, pick) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget:not([style*='display: none']) input", { timeout: 10000 });
  await page.keyboard.type(command, { delay: 10 });
  await page.locator(".quick-input-list .monaco-list-row", { hasText: pick ?? command }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
}

async function chooseInQuickPick(text) {
  const row = page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: text }).first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
}

let failed = false;
try {
  await page.goto(opts.url);
  await page.waitForSelector(".monaco-workbench .explorer-folders-view .monaco-list-row", { timeout: 90000 });

  // Open the failing function.
  await page.keyboard.press("Control+P");
  await page.waitForSelector(".quick-input-widget input", { timeout: 10000 });
  await page.keyboard.type("stripe_webhook.py", { delay: 10 });
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "stripe_webhook.py" }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
  await page.waitForSelector(".monaco-editor .view-lines", { timeout: 20000 });

  // The diagnostic: squiggled in the editor and listed in the Problems panel.
  const squiggle = page.locator(".monaco-editor .squiggly-error").first();
  await squiggle.waitFor({ timeout: 60000 });
  await page.keyboard.press("Control+Shift+M");
  const problem = page.locator(".markers-panel .monaco-list-row", { hasText: "Row not found" }).first();
  await problem.waitFor({ timeout: 30000 });
  const problemText = (await problem.innerText()).replace(/\s+/g, " ");
  check("problems panel lists the failure", /Row not found: subscriptions/.test(problemText), problemText);
  // The status bar: the server's count of failures in the window, as the server words it.
  const status = page.locator(".statusbar-item", { hasText: /Flux: \d+ failing/ }).first();
  let statusText = "";
  try {
    await status.waitFor({ timeout: 30000 });
    statusText = (await status.innerText()).trim();
  } catch {
    statusText = await page.locator(".statusbar-item", { hasText: "Flux" }).allInnerTexts().then((t) => t.join(" | "));
  }
  check("status bar shows the server's failure count", /Flux: 1 failing/.test(statusText), statusText);
  await shot("01-problems.png");

  // The squiggle is on the raising line: clicking it puts the cursor there.
  await page.waitForTimeout(500); // the Problems panel has opened; let the editor settle
  let box = await squiggle.boundingBox();
  let position = "";
  for (let attempt = 0; attempt < 20; attempt++) {
    box = await squiggle.boundingBox();
    await page.mouse.click(box.x + Math.min(box.width / 2, 40), box.y + box.height / 2);
    await page.waitForTimeout(250);
    position = await page.locator("#status\\.editor\\.selection").innerText({ timeout: 10000 });
    if (!/^Ln 1, Col 1$/.test(position.trim())) break;
  }
  check(`squiggle on line ${opts.line}`, new RegExp(`Ln ${opts.line},`).test(position), position);

  // Hover there: the recorded input is shown.
  await page.mouse.move(box.x + Math.min(box.width / 2, 40), box.y + box.height / 2 - 4);
  await page.waitForTimeout(200);
  await page.mouse.move(box.x + Math.min(box.width / 2, 40) + 2, box.y + box.height / 2 - 3);
  // The server's part of the hover (the recorded input) may follow the diagnostic's by a moment.
  const hover = page.locator(".monaco-hover:not(.hidden)", { hasText: "4900" }).first();
  let hoverText = "";
  try {
    await hover.waitFor({ timeout: 20000 });
    hoverText = (await hover.innerText()).replace(/\s+/g, " ");
  } catch {
    hoverText = await page.locator(".monaco-hover").allInnerTexts().then((t) => t.join(" | "));
  }
  check("hover shows the recorded input", /cus_ABC/.test(hoverText) && /4900/.test(hoverText), hoverText.slice(0, 400));
  await shot("02-diagnostic-hover.png");
  await page.keyboard.press("Escape");

  // Flux: Replay Incident… → Last hour → the verdict.
  await palette("Flux: Replay Incident", "Replay Incident");
  await chooseInQuickPick("Last hour");
  const toast = page.locator(".notifications-toasts .notification-toast", { hasText: /replayed ·/ }).first();
  await toast.waitFor({ timeout: 120000 });
  const verdict = (await toast.innerText()).replace(/\s+/g, " ");
  check("replay incident shows its verdict", /\d+ replayed · \d+ passing · \d+ still failing/.test(verdict), verdict);
  await shot("03-replay-verdict.png");

  // Flux: Show Trace… → the recent failure → the report webview.
  await page.keyboard.press("Escape");
  await palette("Flux: Show Trace", "Show Trace");
  await chooseInQuickPick("/stripe_webhook");
  const tab = page.locator(".tabs-container .tab", { hasText: `req:${opts["failing-id"].slice(0, 8)}` }).first();
  await tab.waitFor({ timeout: 30000 });
  const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
  await frame.locator(".waterfall .span-bar").first().waitFor({ timeout: 30000 });
  const bars = await frame.locator(".waterfall .span-bar").count();
  const failing = await frame.locator('li.span[data-failing="true"] .name').allInnerTexts();
  check("report webview draws the waterfall", bars >= 3 && failing.length === 1, { bars, failing });
  await page.keyboard.press("Control+J"); // hide the panel for a cleaner picture
  await page.waitForTimeout(500);
  await shot("04-webview.png");

  // Flux: Debug Request… → the failing webhook → the editor stops on the failing line, and the
  // variables panel shows what the request carried; continuing ends with the recorded error.
  await page.keyboard.press("Control+1"); // focus the editor: a quick pick closes when the webview holds focus
  await page.waitForTimeout(300);
  await palette("Flux: Debug Request", "Debug Request");
  await chooseInQuickPick("/stripe_webhook");
  await page.locator(".monaco-editor .debug-top-stack-frame-line").first().waitFor({ timeout: 90000 });
  const stoppedAt = await page.locator("#status\\.editor\\.selection").innerText({ timeout: 10000 });
  const variable = page.locator(".debug-pane .monaco-list-row, .pane-body .monaco-list-row", { hasText: "customer_id" }).first();
  await variable.waitFor({ timeout: 30000 });
  const variableText = (await variable.innerText()).replace(/\s+/g, " ");
  check(`debugger stops on line ${opts.line}`, new RegExp(`Ln ${opts.line},`).test(stoppedAt), stoppedAt);
  check("variables panel shows cus_ABC", /customer_id.*'cus_ABC'/.test(variableText), variableText);
  await shot("05-debug-stopped.png");
  await page.keyboard.press("F5");
  const ended = page.locator(".notifications-toasts .notification-toast", { hasText: /debug session of .* ended/ }).first();
  await ended.waitFor({ timeout: 60000 });
  const endedText = (await ended.innerText()).replace(/\s+/g, " ");
  check("continuing ends with the recorded error", /still failing: Row not found/.test(endedText), endedText);
} catch (err) {
  failed = true;
  result.error = String(err?.stack ?? err);
  console.error(result.error);
  await shot("failure.png").catch(() => undefined);
} finally {
  await browser.close();
}
writeFileSync(join(out, "result.json"), JSON.stringify(result, null, 2));
const allOk = !failed && Object.values(result.checks).every((c) => c.ok);
process.exit(allOk ? 0 : 1);
