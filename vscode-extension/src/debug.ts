/**
 * The `flux` debugger type: debugging a recorded request. The language server starts the
 * session (`flux.debug`: a `flux debug` process running the request under debugpy, on the
 * unsaved buffers) and answers where its debugger listens; the adapter descriptor connects VS
 * Code to that port, so VS Code speaks DAP to debugpy's own adapter. Nothing is decided here.
 *
 * launch.json: `{"type": "flux", "request": "attach", "name": "…", "execution": "req:…"}`;
 * without `execution`, a recent failure is picked.
 */

import * as vscode from "vscode";
import { pickExecution } from "./executions";
import { type DebugEndpoint, SERVER_COMMANDS, asCommandResult, isObject, normalizeId, shortId } from "./protocol";
import type { FluxServer } from "./server";

export const DEBUG_TYPE = "flux";

/** The endpoint of a `flux.debug` answer (flux_lsp/replay/debug.py `DebugEndpoint`). */
export function asEndpoint(report: unknown): DebugEndpoint | undefined {
  if (isObject(report) && typeof report.host === "string" && typeof report.port === "number") {
    return report as unknown as DebugEndpoint;
  }
  return undefined;
}

/** The debug configuration that debugs one recorded execution. */
export function debugConfiguration(id: string): vscode.DebugConfiguration {
  return { type: DEBUG_TYPE, request: "attach", name: `Flux: debug ${shortId(id)}`, execution: normalizeId(id) };
}

export class FluxDebugger implements vscode.DebugAdapterDescriptorFactory, vscode.DebugConfigurationProvider {
  constructor(private readonly server: FluxServer) {}

  register(): vscode.Disposable[] {
    return [
      vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, this),
      vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, this),
    ];
  }

  /** Start debugging `id` (a code action, a lens, the palette). */
  async start(id: string, folder?: vscode.WorkspaceFolder): Promise<boolean> {
    const where = folder ?? vscode.workspace.workspaceFolders?.[0];
    return vscode.debug.startDebugging(where, debugConfiguration(id));
  }

  /** A launch.json entry without an execution asks for one; the palette fills it in. */
  async resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    if (!config.type && !config.request && !config.name) {
      config = { type: DEBUG_TYPE, request: "attach", name: "Flux: debug a recorded request" };
    }
    if (typeof config.execution !== "string" || !config.execution.trim()) {
      const picked = await pickExecution(this.server, "Flux: Debug Request…");
      if (!picked) {
        return undefined; // cancelled: no session
      }
      config.execution = picked.id;
    }
    config.request = "attach";
    return config;
  }

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const config = session.configuration;
    const arg: Record<string, unknown> = { id: String(config.execution) };
    if (typeof config.port === "number") {
      arg.port = config.port;
    }
    const answer = asCommandResult(await this.server.execute(SERVER_COMMANDS.debug, arg));
    const endpoint = asEndpoint(answer?.report);
    if (!endpoint) {
      throw new Error("the Flux language server gave no debug endpoint");
    }
    return new vscode.DebugAdapterServer(endpoint.port, endpoint.host);
  }
}
