/**
 * Recent executions from the server (`flux.tail`) and the quick picks that choose one:
 * recent failures, or an id typed in.
 */

import * as vscode from "vscode";
import { type Outcome, SERVER_COMMANDS, type TailLine, normalizeId, shortId, tailRows } from "./protocol";
import type { FluxServer } from "./server";

export const ENTER_ID = "$(edit) Enter a request id…";

/** The arguments of `flux.tail` (flux_lsp/lsp/commands.py). */
export interface TailArgs {
  function?: string;
  path?: string;
  status?: string;
  kind?: string;
  since?: string;
  limit?: number;
  uri?: string;
}

export async function fetchExecutions(server: FluxServer, args: TailArgs): Promise<TailLine[]> {
  return tailRows(await server.execute(SERVER_COMMANDS.tail, args));
}

/** The failures within the `flux.window` setting, newest first (replays are not incidents). */
export async function recentFailures(server: FluxServer, limit = 50): Promise<TailLine[]> {
  const window = vscode.workspace.getConfiguration("flux").get<string>("window") || "24h";
  const rows = await fetchExecutions(server, { status: "failed", since: window, limit });
  return rows.filter((row) => row.kind !== "replay");
}

export interface ExecutionItem extends vscode.QuickPickItem {
  row?: TailLine;
}

const OUTCOME_ICON: Record<Outcome, string> = { failed: "$(error)", client_error: "$(warning)", ok: "$(pass)" };

export function executionItem(row: TailLine): ExecutionItem {
  // The pick's own label for jobs (`JOB name`, one space); otherwise the server's target.
  const what = row.kind === "job" ? `JOB ${row.function}` : row.target;
  return {
    label: `${OUTCOME_ICON[row.outcome as Outcome] ?? ""} ${what}  ${row.status}`,
    description: `${row.short_id} · ${row.time} · ${Math.round(row.duration_ms)}ms`,
    detail: row.error?.message,
    row,
  };
}

const ID_PATTERN = /^(req:)?[0-9a-f]{1,16}$/i;

export function validateId(text: string): string | undefined {
  return ID_PATTERN.test(text.trim()) ? undefined : "A request id: req:7c8d9e0f, 7c8d9e0f or a unique prefix";
}

export async function askForId(): Promise<string | undefined> {
  const text = await vscode.window.showInputBox({
    title: "Flux: request id",
    prompt: "A recorded request id (req:7c8d9e0f, or any unique prefix)",
    placeHolder: "req:7c8d9e0f",
    validateInput: validateId,
  });
  return text ? normalizeId(text) : undefined;
}

/**
 * A quick pick of recent failures with an "Enter a request id…" entry; resolves to the chosen
 * row (or a row holding only the typed id).
 */
export async function pickExecution(server: FluxServer, title: string): Promise<TailLine | undefined> {
  let rows: TailLine[] = [];
  try {
    rows = await recentFailures(server);
  } catch (err) {
    void vscode.window.showWarningMessage(`Flux: could not list recent failures: ${(err as Error).message}`);
  }
  const items: ExecutionItem[] = rows.map(executionItem);
  items.push({ label: ENTER_ID, alwaysShow: true });
  const choice = await vscode.window.showQuickPick(items, {
    title,
    placeHolder: rows.length > 0 ? "A recent failure, or enter an id" : "No recent failures — enter an id",
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!choice) {
    return undefined;
  }
  if (choice.row) {
    return choice.row;
  }
  const id = await askForId();
  if (!id) {
    return undefined;
  }
  // Only the typed id is known: no recording has been looked up.
  const blank = { kind: "", function: "", method: "", path: "", target: "", status: "", time: "", duration: "" };
  const unknown = { started_at: 0, started_at_iso: null, duration_ms: 0, error: null, code_version: "", changes: [], replay_of: null };
  return { ...blank, ...unknown, id, short_id: shortId(id), outcome: "ok" };
}
