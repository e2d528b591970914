/**
 * Recent executions from the server (`flux.tail`), its recent failures (`flux.failures`: which
 * failed, in what order, counted and worded by the server), and the quick picks that choose
 * one: a recent failure, or an id typed in.
 */

import * as vscode from "vscode";
import {
  type Outcome,
  type RecentFailures,
  SERVER_COMMANDS,
  type TailLine,
  failuresReport,
  normalizeId,
  tailRows,
} from "./protocol";
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

/** The server's report of the failures within the `flux.window` setting, newest first. */
export async function recentFailures(server: FluxServer): Promise<RecentFailures> {
  const report = failuresReport(await server.execute(SERVER_COMMANDS.failures, {}));
  if (!report) {
    throw new Error("the Flux language server sent no failures report");
  }
  return report;
}

export interface ExecutionItem extends vscode.QuickPickItem {
  row?: TailLine;
}

const OUTCOME_ICON: Record<Outcome, string> = { failed: "$(error)", client_error: "$(warning)", ok: "$(pass)" };

export function executionItem(row: TailLine): ExecutionItem {
  return {
    label: `${OUTCOME_ICON[row.outcome as Outcome] ?? ""} ${row.target}  ${row.status}`,
    description: `${row.short_id} · ${row.time} · ${row.duration}`,
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

/** An execution chosen in a pick: a listed failure's row, or only the id typed in. */
export interface Picked {
  id: string;
  row?: TailLine;
}

/**
 * A quick pick of recent failures with an "Enter a request id…" entry; resolves to the chosen
 * row's id (and the row), or the typed id.
 */
export async function pickExecution(server: FluxServer, title: string): Promise<Picked | undefined> {
  let rows: readonly TailLine[] = [];
  try {
    rows = (await recentFailures(server)).lines;
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
    return { id: choice.row.id, row: choice.row };
  }
  const id = await askForId();
  return id ? { id } : undefined;
}
