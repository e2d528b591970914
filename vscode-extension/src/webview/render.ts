/**
 * The HTML of a Flux report: why sections above a waterfall of the recorded span tree.
 *
 * One module makes the page for both the editor's webview and a standalone file that a plain
 * browser opens (`writeStandaloneHtml`, used by tests and by `node dist/render-cli.js`). It
 * imports no `vscode`. The page has no script at all: inputs, outputs and errors expand with
 * `<details>`, and the Content-Security-Policy allows only the page's own nonce'd stylesheet.
 * Colours come from the editor theme's `--vscode-*` variables, with fallbacks for a browser.
 */

import { writeFileSync } from "node:fs";
import {
  type CommandResult,
  type Json,
  type Outcome,
  type TraceNode,
  type TraceReport,
  type WhyReport,
  isObject,
  shortId,
} from "../protocol";

export interface ReportInput {
  /** The answer of `flux.why`, when there is one. */
  why?: CommandResult;
  /** The answer of `flux.trace`: its `report` carries the span tree the waterfall draws. */
  trace?: CommandResult;
}

export interface RenderOptions {
  /** A fresh random value per render; the stylesheet carries it. */
  nonce: string;
  /** The webview's `cspSource`, for images; omitted in a standalone file. */
  cspSource?: string;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The trace report of a `flux.trace` answer, if it carries one. */
function traceReport(trace: CommandResult | undefined): TraceReport | undefined {
  const report = trace?.report;
  return isObject(report) && typeof report.id === "string" ? (report as unknown as TraceReport) : undefined;
}

/** The why report of a `flux.why` answer, if it carries one. */
function whyReport(why: CommandResult): WhyReport | undefined {
  const report = why.report;
  return isObject(report) && Array.isArray(report.sections) ? (report as unknown as WhyReport) : undefined;
}

/** The report's tree in the order the CLI draws it: each node, then its children. */
function treeRows(node: TraceNode): TraceNode[] {
  return [node, ...node.children.flatMap(treeRows)];
}

function pretty(value: Json | undefined): string {
  if (value === undefined || value === null) {
    return "";
  }
  if (typeof value === "string") {
    return value;
  }
  return JSON.stringify(value, null, 2);
}

/** An expandable block: its summary shows `preview` (the server's one-line form), the body the whole value. */
function detailsBlock(title: string, value: Json | undefined, preview: string | null, open = false): string {
  const text = pretty(value);
  if (!text) {
    return "";
  }
  return `<details class="io"${open ? " open" : ""}><summary>${escapeHtml(title)} <span class="preview">${escapeHtml(preview ?? "")}</span></summary><pre>${escapeHtml(text)}</pre></details>`;
}

/**
 * The waterfall's list and the stylesheet rules that place its bars. A strict CSP blocks
 * `style="…"` attributes, so each bar's offset and width are rules in the nonce'd stylesheet.
 */
function renderWaterfall(report: TraceReport): { html: string; css: string } {
  if (!report.tree) {
    return { html: `<p class="empty">This execution recorded no spans.</p>`, css: "" };
  }
  const nodes = treeRows(report.tree);
  const rules: string[] = [];
  const end = Math.max(report.duration_ms || 0, ...nodes.map((n) => n.start_ms + n.duration_ms), 0.001);
  const rows = nodes.map((node) => {
    const id = node.span_id;
    const left = Math.max(0, Math.min(100, (node.start_ms / end) * 100));
    const width = Math.max(0.4, Math.min(100 - left, (node.duration_ms / end) * 100));
    const isFailing = node.span_id === report.failing_span_id;
    const status = escapeHtml(node.status);
    const where = node.location ?? "";
    const marker = isFailing ? `<span class="marker" title="failing span">✖</span>` : "";
    // What the span came to, in the server's words (`200 OK`, `✗ Row not found…`, `skipped`).
    const result = node.result ? ` <span class="note result">${escapeHtml(node.result)}</span>` : "";
    const attrs = Object.keys(node.attributes ?? {}).length > 0 ? (node.attributes as Json) : undefined;
    const body = [
      detailsBlock("Error", node.error ?? undefined, node.error, isFailing),
      detailsBlock("Input", node.input, node.input_text),
      detailsBlock("Output", node.output, node.output_text),
      detailsBlock("Attributes", attrs, attrs === undefined ? null : JSON.stringify(attrs)),
    ].join("");
    rules.push(`#span-${id} .span-bar { margin-left: ${left.toFixed(3)}%; width: ${width.toFixed(3)}%; }`);
    return `<li id="span-${id}" class="span depth-${Math.min(node.depth, 8)} status-${status}${isFailing ? " failing" : ""}" data-span-id="${id}" data-status="${status}"${isFailing ? ' data-failing="true"' : ""}>
  <div class="row">
    <div class="label">${marker}<span class="name">${escapeHtml(node.label)}</span>${result}${where ? ` <span class="where">${escapeHtml(where)}</span>` : ""}</div>
    <div class="track"><div class="span-bar" title="${escapeHtml(`${node.label} ${node.duration}`)}"></div></div>
    <div class="dur">${escapeHtml(node.duration)}</div>
  </div>
  ${body ? `<div class="more">${body}</div>` : ""}
</li>`;
  });
  return { html: `<ol class="waterfall">${rows.join("\n")}</ol>`, css: rules.join("\n") };
}

function lines(items: readonly string[]): string {
  return items.map((item) => `<div>${escapeHtml(item)}</div>`).join("");
}

/** The why text as the server words it (`sections`), the same the CLI and the hover show. */
function renderWhy(why: CommandResult): string {
  const sections = whyReport(why)?.sections ?? [];
  if (sections.length > 0) {
    const body = sections
      .map(
        (section) =>
          `<tr class="why-row" data-section="${escapeHtml(section.key)}"><th>${escapeHtml(section.label)}</th><td>${lines(section.lines)}</td></tr>`,
      )
      .join("");
    return `<section class="why"><h2>Why</h2><table>${body}</table></section>`;
  }
  if (why.markdown) {
    return `<section class="why"><h2>Why</h2><pre class="markdown">${escapeHtml(why.markdown)}</pre></section>`;
  }
  return "";
}

const OUTCOME_CLASS: Record<Outcome, string> = { ok: "good", client_error: "warn", failed: "bad" };

function renderHeader(report: TraceReport | undefined, fallbackId: string | undefined): string {
  if (!report) {
    return `<header><h1>${escapeHtml(fallbackId ? shortId(fallbackId) : "Flux report")}</h1></header>`;
  }
  const error = report.error;
  const err = error
    ? `<p class="error-line">└─ Error: ${escapeHtml(error.message)}${
        error.location ? ` <code>${escapeHtml(error.location)}</code>` : ""
      }</p>`
    : "";
  return `<header>
  <h1><span class="what">${escapeHtml(report.target)}</span> <span class="status ${OUTCOME_CLASS[report.outcome as Outcome] ?? ""}">${escapeHtml(report.status)}</span> <span class="dim">${escapeHtml(report.duration)}</span> <code>${escapeHtml(report.short_id)}</code> <span class="dim">${escapeHtml(report.time)}</span></h1>
  ${err}
</header>`;
}

function css(): string {
  return `
:root { color-scheme: light dark; }
body { font-family: var(--vscode-font-family, system-ui, sans-serif); font-size: var(--vscode-font-size, 13px);
  color: var(--vscode-foreground, #cccccc); background: var(--vscode-editor-background, #1e1e1e); margin: 0; padding: 16px 20px; }
code, pre, .dur, .where { font-family: var(--vscode-editor-font-family, ui-monospace, monospace); }
h1 { font-size: 1.25em; font-weight: 600; margin: 0 0 4px; }
h2 { font-size: 1.05em; margin: 18px 0 8px; color: var(--vscode-descriptionForeground, #9d9d9d); text-transform: uppercase; letter-spacing: .04em; }
.dim, .note, .where, .preview { color: var(--vscode-descriptionForeground, #9d9d9d); }
.preview { display: inline-block; max-width: 60ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.status.bad, .error-line, .marker { color: var(--vscode-errorForeground, #f48771); }
.status.good { color: var(--vscode-testing-iconPassed, #73c991); }
.status.warn { color: var(--vscode-editorWarning-foreground, #cca700); }
.error-line { margin: 4px 0 0; }
.why table { border-collapse: collapse; }
.why th { text-align: left; vertical-align: top; padding: 3px 16px 3px 0; white-space: nowrap; color: var(--vscode-textPreformat-foreground, #d7ba7d); font-weight: 600; }
.why td { padding: 3px 0; }
.why ul { margin: 0; padding-left: 18px; }
.kv { margin-right: 12px; } .kv .k { color: var(--vscode-descriptionForeground, #9d9d9d); }
ol.logs { list-style: none; margin: 0; padding: 0; font-family: var(--vscode-editor-font-family, monospace); }
ol.logs li { white-space: pre-wrap; padding: 1px 0; }
ol.logs .at, ol.logs .source, .logs-note { opacity: 0.7; }
ol.logs .log-log .source, ol.logs .log-stderr .source { color: var(--vscode-editorWarning-foreground, #b58900); }
.waterfall { list-style: none; margin: 0; padding: 0; border-top: 1px solid var(--vscode-panel-border, #80808059); }
.span { border-bottom: 1px solid var(--vscode-panel-border, #80808059); }
.row { display: grid; grid-template-columns: minmax(220px, 32%) 1fr 70px; align-items: center; gap: 10px; padding: 4px 0; }
.label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.marker { margin-right: 4px; font-weight: bold; }
${Array.from({ length: 9 }, (_, d) => `.depth-${d} .label { padding-left: ${d * 14}px; }`).join("\n")}
.track { position: relative; height: 14px; background: var(--vscode-editorWidget-background, #25252680); border-radius: 2px; }
.span-bar { height: 100%; border-radius: 2px; background: var(--vscode-charts-blue, #3794ff); }
.status-error .span-bar { background: var(--vscode-charts-red, #f14c4c); }
.status-skipped .span-bar { background: repeating-linear-gradient(45deg, var(--vscode-disabledForeground, #808080) 0 3px, transparent 3px 6px); }
.status-skipped .name { color: var(--vscode-disabledForeground, #808080); }
.failing { background: var(--vscode-inputValidation-errorBackground, #5a1d1d66); outline: 1px solid var(--vscode-inputValidation-errorBorder, #be1100); }
.dur { text-align: right; color: var(--vscode-descriptionForeground, #9d9d9d); }
.more { padding: 0 0 6px 24px; }
details.io summary { cursor: pointer; color: var(--vscode-textLink-foreground, #3794ff); }
details.io pre { margin: 4px 0 6px; padding: 6px 8px; background: var(--vscode-textCodeBlock-background, #0a0a0a66); overflow-x: auto; white-space: pre-wrap; }
pre.markdown { white-space: pre-wrap; }
`;
}

/** What the handler printed and logged, one line each as `flux trace` prints them. */
function renderLogs(report: TraceReport): string {
  const logs = report.logs ?? [];
  if (logs.length === 0 && !report.logs_note) {
    return "";
  }
  const lines = logs.map(
    (entry) =>
      `<li class="log-${escapeHtml(entry.stream)}"><span class="at">${escapeHtml(entry.at)}</span> ` +
      `<span class="source">${escapeHtml(entry.source)}</span> ${escapeHtml(entry.message)}</li>`,
  );
  const note = report.logs_note ? `<p class="logs-note">${escapeHtml(report.logs_note)}</p>` : "";
  return `<section class="logs"><h2>Logs</h2><ol class="logs">${lines.join("\n")}</ol>${note}</section>`;
}

/** The whole page for a why and/or trace answer. */
export function renderReportHtml(input: ReportInput, options: RenderOptions): string {
  const report = traceReport(input.trace);
  const id = report?.id ?? input.why?.execution_id ?? input.trace?.execution_id ?? undefined;
  const title = id ? `Flux ${shortId(id)}` : "Flux report";
  const imgSrc = options.cspSource ? `${options.cspSource} data:` : "data:";
  const csp = `default-src 'none'; style-src 'nonce-${options.nonce}'; img-src ${imgSrc}; script-src 'none'; base-uri 'none'; form-action 'none'`;
  const why = input.why ? renderWhy(input.why) : "";
  let trace = "";
  let barRules = "";
  if (report) {
    const waterfall = renderWaterfall(report);
    barRules = waterfall.css;
    trace = `<section class="trace"><h2>Trace</h2>${waterfall.html}</section>${renderLogs(report)}`;
  } else if (input.trace?.markdown) {
    trace = `<section class="trace"><h2>Trace</h2><pre class="markdown">${escapeHtml(input.trace.markdown)}</pre></section>`;
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(options.nonce)}">${css()}
${barRules}</style>
</head>
<body>
${renderHeader(report, id ?? undefined)}
${why}
${trace}
</body>
</html>
`;
}

/** A random nonce for one render (base64 of 16 random bytes). */
export function makeNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString("base64").replace(/[^A-Za-z0-9]/g, "");
}

/** Write the page to a file a plain browser can open. */
export function writeStandaloneHtml(path: string, input: ReportInput): void {
  writeFileSync(path, renderReportHtml(input, { nonce: makeNonce() }), "utf8");
}
