/**
 * The Flux extension's entry point: a thin client. It starts the Flux language server (which
 * does all the work: diagnostics, hovers, code lenses, reports, replay), and adds the palette
 * commands, the report panel, the tail channel, the failures status bar item and the `flux`
 * debugger type.
 */

import * as vscode from "vscode";
import { FluxCommands } from "./commands";
import { FluxDebugger } from "./debug";
import type { Middleware } from "vscode-languageclient/node";
import { ServerManager } from "./server";
import { FailureStatus } from "./statusBar";
import { TailChannel } from "./tail";
import { ReportPanels } from "./webview/panel";

export interface FluxApi {
  server: ServerManager;
  commands: FluxCommands;
  status: FailureStatus;
  tail: TailChannel;
}

let running: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<FluxApi> {
  const output = vscode.window.createOutputChannel("Flux Language Server");
  let commands: FluxCommands | undefined;
  const middleware: Middleware = {
    executeCommand: (command, args, next) =>
      commands ? commands.middleware().executeCommand!(command, args, next) : next(command, args),
  };
  const server = new ServerManager(output, middleware);
  running = server;
  const panels = new ReportPanels();
  const tail = new TailChannel(server);
  const debug = new FluxDebugger(server);
  commands = new FluxCommands(server, panels, tail, debug);
  const status = new FailureStatus(server);
  context.subscriptions.push(output, server, panels, tail, status, ...commands.register(), ...debug.register());
  if (await server.start()) {
    void status.refresh();
  } else {
    status.item.text = "$(warning) Flux";
    status.item.tooltip = "Flux: the language server is not running";
  }
  return { server, commands, status, tail };
}

export function deactivate(): Promise<void> | undefined {
  return running?.stop();
}
