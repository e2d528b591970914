/**
 * The running Flux language server: starts it with the resolved command, restarts it, and
 * sends it `workspace/executeCommand` requests. When no command works it says so once, with
 * a button that opens the `flux.serverCommand` setting — never a silent spinner.
 */

import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";
import { type Resolution, type ServerCommand, resolveServerCommand, vscodeLookups } from "./serverCommand";

export const OPEN_SETTING = "Open Setting";

/** What the palette commands need from the server. */
export interface FluxServer {
  execute(command: string, arg: object, token?: vscode.CancellationToken): Promise<unknown>;
  restart(): Promise<void>;
}

export class ServerNotRunning extends Error {
  constructor() {
    super("the Flux language server is not running");
  }
}

export type Resolver = (folder: vscode.WorkspaceFolder | undefined) => Promise<Resolution>;

export class ServerManager implements FluxServer, vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private notified = false;
  command: ServerCommand | undefined;

  constructor(
    private readonly output: vscode.OutputChannel,
    private readonly middleware: Middleware,
    private readonly resolver: Resolver = (folder) => resolveServerCommand(vscodeLookups(folder)),
  ) {}

  /** Start the server unless it runs; resolves to whether it is running. */
  async start(): Promise<boolean> {
    if (this.client?.isRunning()) {
      return true;
    }
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    this.client = await this.starting;
    return this.client !== undefined;
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const resolution = await this.resolver(folder);
    for (const line of resolution.tried) {
      this.output.appendLine(`[flux] ${line}`);
    }
    const found = resolution.found;
    if (!found) {
      await this.notifyMissing("no server command works");
      return undefined;
    }
    this.command = found;
    this.output.appendLine(`[flux] starting ${[found.command, ...found.args].join(" ")} (from ${found.source})`);
    const serverOptions: ServerOptions = {
      command: found.command,
      args: found.args,
      transport: TransportKind.stdio,
      options: { cwd: folder?.uri.fsPath },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "python" }, { scheme: "untitled", language: "python" }],
      synchronize: { configurationSection: "flux" },
      // This client draws Flux's reports itself; other editors get them as Markdown documents.
      initializationOptions: { rendersReports: true },
      outputChannel: this.output,
      middleware: this.middleware,
    };
    const client = new LanguageClient("flux", "Flux", serverOptions, clientOptions);
    try {
      await client.start();
      return client;
    } catch (err) {
      this.output.appendLine(`[flux] the server did not start: ${(err as Error).message}`);
      await client.dispose().catch(() => undefined);
      await this.notifyMissing(`${found.command} did not start`);
      return undefined;
    }
  }

  /** One clear notification with a button to the setting (once until the next restart). */
  async notifyMissing(reason: string): Promise<void> {
    if (this.notified) {
      return;
    }
    this.notified = true;
    const choice = await vscode.window.showErrorMessage(
      `Flux: cannot start the language server (${reason}). Set "flux.serverCommand", select a Python interpreter that has Flux installed, or put \`flux\` on PATH.`,
      OPEN_SETTING,
    );
    if (choice === OPEN_SETTING) {
      await vscode.commands.executeCommand("workbench.action.openSettings", "flux.serverCommand");
    }
  }

  async restart(): Promise<void> {
    this.notified = false;
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      await client.stop().catch(() => undefined);
    }
  }

  async execute(command: string, arg: object, token?: vscode.CancellationToken): Promise<unknown> {
    if (!(await this.start()) || !this.client) {
      throw new ServerNotRunning();
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] }, token);
  }

  dispose(): void {
    void this.stop();
  }
}
