/**
 * The JSON the Flux language server answers `workspace/executeCommand` with, and the
 * arguments each command takes. Pure types and small readers: no `vscode` import, so the
 * webview renderer and the standalone HTML writer can use it too.
 *
 * Every command takes one object argument (`{"id": "7c8d9e0f"}`, `{"window": "09:00..09:20"}`)
 * and answers `{"kind", "execution_id", "report", "markdown"}`; `flux.trace` also carries the
 * recorded `execution` exactly as `Execution.to_dict()` writes it.
 */

export const SERVER_COMMANDS = {
  why: "flux.why",
  trace: "flux.trace",
  traceDiff: "flux.traceDiff",
  replay: "flux.replay",
  incidentReplay: "flux.incidentReplay",
  tail: "flux.tail",
} as const;

export type ServerCommandName = (typeof SERVER_COMMANDS)[keyof typeof SERVER_COMMANDS];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface SpanJson {
  id: number;
  name: string;
  parent: number | null;
  start_ms: number;
  duration_ms: number;
  status: "ok" | "error" | "skipped" | string;
  attributes: { [key: string]: Json };
  input: Json;
  output: Json;
  error: string | null;
  file: string | null;
  line: number | null;
}

export interface LocationJson {
  file: string;
  line: number;
  col?: number | null;
  end_line?: number | null;
  end_col?: number | null;
  function?: string | null;
  source_line?: string | null;
}

export interface ErrorJson {
  type: string;
  message: string;
  location: LocationJson | null;
}

export interface MutationJson {
  table: string;
  op: string;
  pk: string | null;
  rows_affected: number;
}

export interface ExecutionJson {
  id: string;
  kind: string;
  function: string;
  method: string;
  path: string;
  status: string;
  started_at: number;
  duration_ms: number;
  request?: { [key: string]: Json };
  response?: { [key: string]: Json };
  error: ErrorJson | null;
  spans: SpanJson[];
  mutations?: MutationJson[];
}

export interface CommandResult {
  kind: string;
  execution_id?: string | null;
  report?: Json;
  markdown?: string | null;
  execution?: ExecutionJson;
}

/** One row of `flux.tail`: a recorded execution, whole or summarised. */
export interface TailRow {
  id: string;
  function: string;
  method: string;
  path: string;
  status: string;
  started_at: number;
  duration_ms: number;
  kind?: string;
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

/** The failing status rule of `Execution.failed`: 5xx, or a failed job. */
export function isFailedStatus(status: string): boolean {
  if (status === "failed") {
    return true;
  }
  return /^\d+$/.test(status) && Number(status) >= 500;
}

function errorText(value: unknown): string | null {
  if (typeof value === "string") {
    return value;
  }
  if (isObject(value) && typeof value.message === "string") {
    const type = typeof value.type === "string" ? `${value.type}: ` : "";
    return `${type}${value.message}`;
  }
  return null;
}

/** Rows of a `flux.tail` answer, whatever list key the report uses. */
export function tailRows(result: unknown): TailRow[] {
  const found = findList(result);
  const rows: TailRow[] = [];
  for (const item of found) {
    if (!isObject(item) || typeof item.id !== "string") {
      continue;
    }
    rows.push({
      id: item.id,
      function: String(item.function ?? ""),
      method: String(item.method ?? ""),
      path: String(item.path ?? ""),
      status: String(item.status ?? ""),
      started_at: Number(item.started_at ?? 0),
      duration_ms: Number(item.duration_ms ?? 0),
      kind: typeof item.kind === "string" ? item.kind : undefined,
      error: errorText(item.error),
    });
  }
  return rows;
}

function findList(result: unknown): unknown[] {
  if (Array.isArray(result)) {
    return result;
  }
  if (!isObject(result)) {
    return [];
  }
  for (const key of ["lines", "executions", "rows", "items", "results"]) {
    const value = result[key];
    if (Array.isArray(value)) {
      return value;
    }
  }
  if ("report" in result) {
    return findList(result.report);
  }
  return [];
}

/** `09:14:22`, the clock time the seed prints, in local time. */
export function clock(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `POST /stripe_webhook  500  32ms  req:7c8d9e0f  09:14:22`, as `flux tail` prints it. */
export function tailLine(row: TailRow): string {
  const head = row.kind === "job" ? `JOB  ${row.function}` : `${row.method} ${row.path}`;
  return `${head}  ${row.status}  ${Math.round(row.duration_ms)}ms  ${shortId(row.id)}  ${clock(row.started_at)}`;
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
