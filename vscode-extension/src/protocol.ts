/**
 * The JSON the Flux language server answers `workspace/executeCommand` with, and the
 * arguments each command takes. Pure types and small readers: no `vscode` import, so the
 * webview renderer and the standalone HTML writer can use it too.
 *
 * Every command takes one object argument (`{"id": "7c8d9e0f"}`, `{"window": "09:00..09:20"}`)
 * and answers `{"kind", "execution_id", "report", "markdown"}`. (`flux.trace` also sends the raw
 * recorded `execution`; the extension draws from the `report` and does not read it.)
 */

export const SERVER_COMMANDS = {
  why: "flux.why",
  trace: "flux.trace",
  traceDiff: "flux.traceDiff",
  replay: "flux.replay",
  incidentReplay: "flux.incidentReplay",
  tail: "flux.tail",
  saveRegressionTest: "flux.saveRegressionTest",
  debug: "flux.debug",
} as const;

export type ServerCommandName = (typeof SERVER_COMMANDS)[keyof typeof SERVER_COMMANDS];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A node of `TraceReport.to_dict()["tree"]`: a span, nested and labelled as the CLI draws it. */
export interface TraceNodeJson {
  span_id: number;
  name: string;
  label: string;
  depth: number;
  start_ms: number;
  duration_ms: number;
  status: "ok" | "error" | "skipped" | string;
  result: string;
  input: Json;
  output: Json;
  error: string | null;
  file: string | null;
  line: number | null;
  attributes: { [key: string]: Json };
  children: TraceNodeJson[];
}

/** `ok`, `client_error` (4xx) or `failed` (5xx, failed jobs), as `analysis.tail.outcome` says. */
export type Outcome = "ok" | "client_error" | "failed";

/** The `report` of `flux.trace` (`TraceReport.to_dict()`; `steps` is not read here). */
export interface TraceReportJson {
  id: string;
  short_id: string;
  kind: string;
  function: string;
  target: string;
  status: string;
  outcome: Outcome;
  duration_ms: number;
  started_at: number;
  started_at_iso: string | null;
  error: { type: string; message: string; location: string | null } | null;
  tree: TraceNodeJson | null;
  /** What the handler printed and logged (absent from reports of older servers). */
  logs?: LogEntryJson[];
  /** Set when output was cut: `… 1,200 more characters of output were cut`. */
  logs_note?: string | null;
}

/** One line a handler printed or logged (`LogEntry.to_dict()`). */
export interface LogEntryJson {
  at_ms: number;
  stream: string;
  message: string;
  level: string | null;
  logger: string | null;
}

export interface CommandResult {
  kind: string;
  execution_id?: string | null;
  report?: Json;
  markdown?: string | null;
}

/** One row of `flux.tail` (`TailLine.to_dict()`), with its error as `Type: message`. */
export interface TailRow {
  id: string;
  short_id: string;
  kind: string;
  function: string;
  method: string;
  path: string;
  /** `POST /create_user`, or `JOB  send_onboarding_email`. */
  target: string;
  /** The execution a replay re-ran (`req:1a2b3c4d`); null for live traffic. */
  replay_of?: string | null;
  status: string;
  outcome: Outcome;
  started_at: number;
  duration_ms: number;
  /** `09:14:22`, the server's clock time of `started_at`. */
  time: string;
  error: string | null;
}

/** `req:` and the first 8 hex digits, the form users see (as `model.short_id`). */
export function shortId(executionId: string): string {
  const bare = executionId.trim().toLowerCase().replace(/^req:/, "");
  return `req:${bare.slice(0, 8)}`;
}

/** Accept `req:7c8d9e0f`, `7C8D9E0F` or a prefix; the bare lowercase hex (as `model.normalize_id`). */
export function normalizeId(text: string): string {
  return text.trim().toLowerCase().replace(/^req:/, "");
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

type TailLineJson = Omit<TailRow, "error"> & { error: { type: string; message: string } | null };

/** Rows of a `flux.tail` answer: `{"report": {"lines": [TailLine.to_dict(), ...]}}`. */
export function tailRows(result: unknown): TailRow[] {
  const report = isObject(result) ? result.report : undefined;
  const lines = isObject(report) && Array.isArray(report.lines) ? (report.lines as TailLineJson[]) : [];
  return lines.map(({ error, ...row }) => ({ ...row, error: error ? `${error.type}: ${error.message}` : null }));
}

/** `09:14:22`, the clock time the seed prints, in local time. */
export function clock(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `POST /stripe_webhook  500  32ms  req:7c8d9e0f  09:14:22`, as `flux tail` prints it. */
export function tailLine(row: TailRow): string {
  return `${row.target}  ${row.status}  ${Math.round(row.duration_ms)}ms  ${row.short_id}  ${row.time}`;
}

/**
 * The verdict line of a replay, as the seed prints it
 * (`7 replayed · 7 passing · 0 still failing  ✔ incident resolved`): the markdown's last line
 * (the server writes it there), else the report's `verdict`.
 */
export function verdictLine(result: CommandResult): string {
  const lines = (result.markdown ?? "")
    .split("\n")
    .map((line) => line.replace(/[*`]/g, "").trim())
    .filter((line) => line.length > 0);
  if (lines.length > 0) {
    return lines[lines.length - 1];
  }
  const report = result.report;
  if (isObject(report) && typeof report.verdict === "string" && report.verdict.trim()) {
    return report.verdict.trim();
  }
  return "Replay finished.";
}
