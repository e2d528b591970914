// node e2e/screenshot-report.mjs PAGE.html OUT.png: open a standalone report page in headless
// Chromium (CHROMIUM_PATH), screenshot it, and print what its DOM holds as JSON:
// {"bars", "spans", "failing": [span ids], "labels", "sections", "scripts", "csp"}.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_, out] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH;
if (!page_ || !out || !executablePath) {
  console.error("usage: CHROMIUM_PATH=… node e2e/screenshot-report.mjs PAGE.html OUT.png");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 }, deviceScaleFactor: 1 });
  const violations = [];
  page.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
  });
  await page.goto(pathToFileURL(page_).href);
  // Open the failing span's details so the screenshot shows its error and input.
  await page.evaluate(() => {
    for (const d of document.querySelectorAll("li.failing details")) d.open = true;
  });
  await page.screenshot({ path: out, fullPage: true });
  const dom = await page.evaluate(() => ({
    bars: document.querySelectorAll(".waterfall .span-bar").length,
    spans: document.querySelectorAll(".waterfall li.span").length,
    failing: [...document.querySelectorAll('li.span[data-failing="true"]')].map((li) => Number(li.dataset.spanId)),
    labels: [...document.querySelectorAll("li.span .name")].map((e) => e.textContent),
    widths: [...document.querySelectorAll(".span-bar")].map((e) => e.getBoundingClientRect().width),
    sections: [...document.querySelectorAll(".why-row")].map((e) => e.dataset.section),
    scripts: document.querySelectorAll("script").length,
    styled: getComputedStyle(document.querySelector(".span-bar") ?? document.body).borderRadius,
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute("content") ?? null,
  }));
  console.log(JSON.stringify({ ...dom, violations }));
} finally {
  await browser.close();
}
