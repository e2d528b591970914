/** The report page: the trace report's tree and header, one bar per span, the failing span, escaping, CSP. */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { renderReportHtml, writeStandaloneHtml } from "../src/webview/render";
import { verdictLine } from "../src/protocol";
import { replayResult, traceResult, whyResult } from "./fixtures";

test("the report's tree is drawn in order with its depths and labels; the server's failing span is marked", () => {
  const html = renderReportHtml({ trace: traceResult }, { nonce: "n" });
  const rows = [...html.matchAll(/<li id="span-(\d+)" class="span depth-(\d+)[^]*?<span class="name">([^<]*)</g)];
  assert.deepEqual(
    rows.map(([, , depth, label]) => [label, Number(depth)]),
    [
      ["gateway", 0],
      ["stripe_webhook", 1],
      ["db.update(subscriptions)", 2],
      ["email.send", 2],
    ],
  );
  assert.deepEqual([...html.matchAll(/data-span-id="(\d+)"[^>]*data-failing="true"/g)].map((m) => Number(m[1])), [3]);
  assert.match(html, /<span class="what">POST \/stripe_webhook<\/span> <span class="status bad">500<\/span>/);
  assert.match(html, /└─ Error: Row not found: subscriptions WHERE customer_id = &#39;cus_ABC&#39; <code>stripe_webhook.py:12<\/code>/);
});

test("one bar per span, scaled to duration, the failing span marked", () => {
  const html = renderReportHtml({ trace: traceResult, why: whyResult }, { nonce: "abc123" });
  assert.equal((html.match(/class="span-bar"/g) ?? []).length, 4);
  assert.equal((html.match(/data-failing="true"/g) ?? []).length, 1);
  assert.match(html, /data-span-id="3" data-status="error" data-failing="true"/);
  assert.match(html, /#span-1 \.span-bar \{ margin-left: 0\.000%; width: 100\.000%; \}/, "the gateway spans the whole execution");
  assert.match(html, /#span-3 \.span-bar \{ margin-left: 12\.500%; width: 9\.375%; \}/, "db.update: 4ms in, 3ms long, of 32ms");
  assert.doesNotMatch(html, / style="/, "a strict CSP blocks style attributes");
  assert.match(html, /skipped — upstream error/);
  assert.ok(html.indexOf("ROOT CAUSE") < html.indexOf('class="waterfall"'), "why sections above the waterfall");
  for (const section of ["root_cause", "location", "input", "data_changes", "suggestion"]) {
    assert.match(html, new RegExp(`data-section="${section}"`));
  }
  assert.match(html, /Stripe event: payment_intent.succeeded/);
  assert.match(html, /customer_id: cus_ABC {2}amount: 4900/);
  assert.match(html, /subscriptions {2}UPDATE {2}0 rows affected/);
});

test("strict CSP: no script allowed, only the nonce'd stylesheet; content is escaped", () => {
  const html = renderReportHtml({ trace: traceResult, why: whyResult }, { nonce: "n0nce", cspSource: "vscode-resource:" });
  assert.match(html, /default-src &#39;none&#39;; style-src &#39;nonce-n0nce&#39;; img-src vscode-resource: data:; script-src &#39;none&#39;/);
  assert.match(html, /<style nonce="n0nce">/);
  assert.doesNotMatch(html, /<script/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /var\(--vscode-editor-background/);
});

test("a why answer without a report falls back to its markdown; no execution, no waterfall", () => {
  const html = renderReportHtml({ why: { kind: "why", execution_id: "abc", markdown: "**ROOT CAUSE** x" } }, { nonce: "n" });
  assert.match(html, /<pre class="markdown">\*\*ROOT CAUSE\*\* x<\/pre>/);
  assert.doesNotMatch(html, /class="span-bar"/);
});

test("the standalone file is the same page", () => {
  const dir = mkdtempSync(join(tmpdir(), "flux-render-"));
  const out = join(dir, "report.html");
  writeStandaloneHtml(out, { trace: traceResult });
  const html = readFileSync(out, "utf8");
  assert.match(html, /^<!DOCTYPE html>/);
  assert.equal((html.match(/class="span-bar"/g) ?? []).length, 4);
});

test("the verdict is the report's own line; the Markdown is never read", () => {
  assert.equal(verdictLine(replayResult), "7 replayed · 7 passing · 0 still failing  ✔ incident resolved");
  assert.equal(verdictLine({ kind: "replay", markdown: "1 replayed · **✗ not resolved**" }), "Replay finished.");
});
