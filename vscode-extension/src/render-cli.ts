/**
 * `node dist/render-cli.js REPORT.json OUT.html`: write the webview page for a report to a
 * standalone HTML file. REPORT.json is `{"why": <flux.why answer>, "trace": <flux.trace answer>}`
 * (either may be left out).
 */

import { readFileSync } from "node:fs";
import { isObject } from "./protocol";
import { type ReportInput, writeStandaloneHtml } from "./webview/render";

function main(argv: string[]): number {
  if (argv.length !== 2) {
    process.stderr.write("usage: render-cli REPORT.json OUT.html\n");
    return 2;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(argv[0], "utf8"));
  } catch (err) {
    process.stderr.write(`render-cli: cannot read ${argv[0]}: ${(err as Error).message}\n`);
    return 1;
  }
  if (!isObject(data) || !("why" in data || "trace" in data)) {
    process.stderr.write("render-cli: expected {why, trace}: the flux.why and flux.trace answers\n");
    return 1;
  }
  writeStandaloneHtml(argv[1], data as ReportInput);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
