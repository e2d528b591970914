/**
 * The JSON the Flux language server answers `workspace/executeCommand` with, and the
 * arguments each command takes. Pure types and small readers: no `vscode` import, so the
 * webview renderer and the standalone HTML writer can use it too.
 *
 * Every command takes one object argument (`{"id": "7c8d9e0f"}`, `{"window": "09:00..09:20"}`)
 * and answers a `CommandAnswer` (`{"kind", "execution_id", "report", "markdown", "document",
 * "execution"}`; `flux.trace` sends the raw recorded `execution`, which the extension does not
 * read: it draws from the `report`). The answer's and the reports' types are generated from the
 * server's (`src/generated/reports.ts`); the extension renders their fields and never parses
 * the Markdown.
 */

export const SERVER_COMMANDS = {
  why: "flux.why",
  trace: "flux.trace",
  traceDiff: "flux.traceDiff",
  replay: "flux.replay",
  incidentReplay: "flux.incidentReplay",
  tail: "flux.tail",
  failures: "flux.failures",
  saveRegressionTest: "flux.saveRegressionTest",
  debug: "flux.debug",
} as const;

export type ServerCommandName = (typeof SERVER_COMMANDS)[keyof typeof SERVER_COMMANDS];

export type {
  DebugEndpoint,
  Json,
  LogLine,
  RecentFailures,
  ReplayReport,
  SavedCase,
  TailLine,
  TraceNode,
  TraceReport,
  WhyReport,
} from "./generated/reports";
import type { CommandAnswer, RecentFailures, ReplayReport, SavedCase, TailLine } from "./generated/reports";

/** `ok`, `client_error` (4xx) or `failed` (5xx, failed jobs), as `analysis.execution_summary.outcome` says. */
export type Outcome = "ok" | "client_error" | "failed";

/** A command's answer (`CommandAnswer`); its report is read with the readers below. */
export type CommandResult = Omit<CommandAnswer, "report"> & { readonly report: unknown };

/** `req:` and the first 8 hex digits, the form users see (as `model.short_id`). */
export function shortId(executionId: string): string {
  const bare = executionId.trim().toLowerCase().replace(/^req:/, "");
  return `req:${bare.slice(0, 8)}`;
}

/** Accept `req:7c8d9e0f`, `7C8D9E0F` or a prefix; the bare lowercase hex (as `model.normalize_id`). */
export function normalizeId(text: string): string {
  return text.trim().toLowerCase().replace(/^req:/, "");
}

/** The LSP `RequestCancelled` error code: the server stopped a request the user cancelled. */
export const REQUEST_CANCELLED = -32800;

/** Whether a server error says the request was cancelled (by its code, never its text). */
export function isCancelled(err: unknown): boolean {
  return isObject(err) && err.code === REQUEST_CANCELLED;
}

export function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether a server answer looks like a command result. */
export function asCommandResult(value: unknown): CommandResult | undefined {
  if (!isObject(value) || typeof value.kind !== "string") {
    return undefined;
  }
  return value as unknown as CommandResult;
}

/** Rows of a `flux.tail` answer: `{"report": {"lines": [TailLine, ...]}}`, as the server sends them. */
export function tailRows(result: unknown): TailLine[] {
  const report = isObject(result) ? result.report : undefined;
  return isObject(report) && Array.isArray(report.lines) ? (report.lines as unknown as TailLine[]) : [];
}

/** `POST /stripe_webhook  500  32ms  req:7c8d9e0f  09:14:22`, as `flux tail` prints it. */
export function tailLine(row: TailLine): string {
  const replay = row.replay_of ? `  replay of ${row.replay_of}` : "";
  return `${row.target}  ${row.status}  ${row.duration}  ${row.short_id}  ${row.time}${replay}`;
}

/** The report of a `flux.failures` answer: the failures, their count and its words. */
export function failuresReport(result: unknown): RecentFailures | undefined {
  const report = isObject(result) ? result.report : undefined;
  return isObject(report) && typeof report.count === "number" ? (report as unknown as RecentFailures) : undefined;
}

/** What `flux.saveRegressionTest` saved, when the answer says. */
export function savedCase(result: CommandResult | undefined): SavedCase | undefined {
  const report = result?.report;
  return isObject(report) && typeof report.summary === "string" ? (report as unknown as SavedCase) : undefined;
}

/** The replay report of a replay answer, when it carries one. */
export function replayReport(result: CommandResult): ReplayReport | undefined {
  const report = result.report;
  return isObject(report) && typeof report.verdict_line === "string" ? (report as unknown as ReplayReport) : undefined;
}

/**
 * The verdict line of a replay, as the seed prints it
 * (`7 replayed · 7 passing · 0 still failing  ✔ incident resolved`): the report's own.
 */
export function verdictLine(result: CommandResult): string {
  return replayReport(result)?.verdict_line ?? "Replay finished.";
}
