/** The report page: the trace report's tree and header, one bar per span, the failing span, escaping, CSP. */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LogLine, TraceNode } from "../src/protocol";
import { verdictLine } from "../src/protocol";
import { renderReportHtml, writeStandaloneHtml } from "../src/webview/render";
import { incidentReplay, trace, why } from "./fixtures";

/** The trace's nodes in the order the CLI draws them: each node, then its children. */
function nodes(node: TraceNode = trace.report.tree!): TraceNode[] {
  return [node, ...node.children.flatMap((child) => nodes(child))];
}

const failing = nodes().find((node) => node.span_id === trace.report.failing_span_id)!;

test("the report's tree is drawn in order with its depths and labels; the server's failing span is marked", () => {
  const html = renderReportHtml({ trace }, { nonce: "n" });
  const rows = [...html.matchAll(/<li id="span-(\d+)" class="span depth-(\d+)[^]*?<span class="name">([^<]*)</g)];
  assert.deepEqual(
    rows.map(([, , depth, label]) => [label, Number(depth)]),
    nodes().map((node) => [node.label, node.depth]),
  );
  assert.deepEqual(rows.map(([, , , label]) => label), [
    "gateway",
    "stripe_webhook",
    "stripe.verify_webhook",
    "db.update(subscriptions)",
    "response",
  ]);
  assert.equal(failing.label, "db.update(subscriptions)");
  assert.deepEqual([...html.matchAll(/data-span-id="(\d+)"[^>]*data-failing="true"/g)].map((m) => Number(m[1])), [failing.span_id]);
  assert.match(html, /<span class="what">POST \/stripe_webhook<\/span> <span class="status bad">500<\/span>/);
  assert.match(html, /└─ Error: Row not found: subscriptions WHERE customer_id = &#39;cus_ABC&#39; <code>stripe_webhook.py:12<\/code>/);
});

test("one bar per span, placed and sized by the server's timings, the failing span marked", () => {
  const html = renderReportHtml({ trace, why }, { nonce: "abc123" });
  assert.equal((html.match(/class="span-bar"/g) ?? []).length, nodes().length);
  assert.equal((html.match(/data-failing="true"/g) ?? []).length, 1);
  assert.match(html, new RegExp(`data-span-id="${failing.span_id}" data-status="error" data-failing="true"`));
  const bar = (id: number) => html.match(new RegExp(`#span-${id} \\.span-bar \\{ margin-left: ([\\d.]+)%; width: ([\\d.]+)%; \\}`))!;
  const root = trace.report.tree!;
  const end = Math.max(trace.report.duration_ms, ...nodes().map((n) => n.start_ms + n.duration_ms));
  assert.equal(Number(bar(root.span_id)[2]), Number(((root.duration_ms / end) * 100).toFixed(3)), "the gateway's share of the execution");
  assert.equal(Number(bar(failing.span_id)[1]), Number(((failing.start_ms / end) * 100).toFixed(3)), "the failing span starts where it started");
  assert.doesNotMatch(html, / style="/, "a strict CSP blocks style attributes");
  assert.ok(html.indexOf("ROOT CAUSE") < html.indexOf('class="waterfall"'), "why sections above the waterfall");
  for (const section of why.report.sections) {
    assert.match(html, new RegExp(`data-section="${section.key}"`));
  }
  assert.match(html, /Stripe event: payment_intent.succeeded/);
  assert.match(html, /customer_id: cus_ABC {2}amount: 4900/);
  assert.match(html, /subscriptions {2}UPDATE {2}0 rows affected/);
});

test("each span says what it came to in the server's words; a skipped span says so", () => {
  const skipped = nodes().filter((node) => node.status === "skipped");
  assert.ok(skipped.length > 0, "the failing webhook skipped its response span");
  const html = renderReportHtml({ trace }, { nonce: "n" });
  const results = [...html.matchAll(/<span class="note result">([^<]*)<\/span>/g)].map((m) => m[1]);
  assert.deepEqual(results, nodes().filter((node) => node.result).map((node) => node.result.replace(/'/g, "&#39;")));
  assert.ok(results.includes("skipped"));
});

test("an input's summary is the server's one-line form of it; the whole value is inside", () => {
  const withInput = nodes().find((node) => node.input_text)!;
  const html = renderReportHtml({ trace }, { nonce: "n" });
  const row = html.slice(html.indexOf(`<li id="span-${withInput.span_id}"`));
  const summary = row.match(/<summary>Input <span class="preview">([^<]*)<\/span><\/summary><pre>([^<]*)<\/pre>/)!;
  assert.equal(summary[1], withInput.input_text!.replace(/'/g, "&#39;"));
  assert.ok(summary[2].length > 0);
});

test("log lines show the server's offset and source", () => {
  const entry: LogLine = { at_ms: 1250, stream: "log", message: "charging <card>", level: "WARNING", logger: "shop", at: "1.25s", source: "WARNING" };
  const html = renderReportHtml({ trace: { ...trace, report: { ...trace.report, logs: [entry] } } }, { nonce: "n" });
  assert.match(html, /<li class="log-log"><span class="at">1\.25s<\/span> <span class="source">WARNING<\/span> charging &lt;card&gt;<\/li>/);
});

test("strict CSP: no script allowed, only the nonce'd stylesheet; content is escaped", () => {
  const [first, ...rest] = why.report.sections;
  const hostile = { ...first, lines: ["<script>alert(1)</script>"] };
  const answer = { ...why, report: { ...why.report, sections: [hostile, ...rest] } };
  const html = renderReportHtml({ trace, why: answer }, { nonce: "n0nce", cspSource: "vscode-resource:" });
  assert.match(html, /default-src &#39;none&#39;; style-src &#39;nonce-n0nce&#39;; img-src vscode-resource: data:; script-src &#39;none&#39;/);
  assert.match(html, /<style nonce="n0nce">/);
  assert.doesNotMatch(html, /<script/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /var\(--vscode-editor-background/);
});

test("a why answer without a report falls back to its markdown; no execution, no waterfall", () => {
  const html = renderReportHtml({ why: { ...why, execution_id: "abc", report: null, markdown: "**ROOT CAUSE** x" } }, { nonce: "n" });
  assert.match(html, /<pre class="markdown">\*\*ROOT CAUSE\*\* x<\/pre>/);
  assert.doesNotMatch(html, /class="span-bar"/);
});

test("the standalone file is the same page", () => {
  const dir = mkdtempSync(join(tmpdir(), "flux-render-"));
  const out = join(dir, "report.html");
  writeStandaloneHtml(out, { trace });
  const html = readFileSync(out, "utf8");
  assert.match(html, /^<!DOCTYPE html>/);
  assert.equal((html.match(/class="span-bar"/g) ?? []).length, nodes().length);
});

test("the verdict is the report's own line; the Markdown is never read", () => {
  assert.equal(verdictLine(incidentReplay), incidentReplay.report.verdict_line);
  const withoutReport = { ...incidentReplay, report: null, markdown: "1 replayed · **✗ not resolved**" };
  assert.equal(verdictLine(withoutReport), "Replay finished.");
});
