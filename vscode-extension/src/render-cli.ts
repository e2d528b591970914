/**
 * `node dist/render-cli.js REPORT.json OUT.html`: write the webview page for a report to a
 * standalone HTML file. REPORT.json is `{"why": <flux.why answer>, "trace": <flux.trace answer>}`,
 * or a bare `Execution.to_dict()` (drawn as a trace).
 */

import { readFileSync } from "node:fs";
import { type ExecutionJson, isObject } from "./protocol";
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
  let input: ReportInput;
  if (isObject(data) && Array.isArray(data.spans)) {
    const execution = data as unknown as ExecutionJson;
    input = { trace: { kind: "trace", execution_id: execution.id, execution } };
  } else if (isObject(data) && ("why" in data || "trace" in data)) {
    input = data as ReportInput;
  } else {
    process.stderr.write("render-cli: expected {why, trace} or an execution with spans\n");
    return 1;
  }
  writeStandaloneHtml(argv[1], input);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
