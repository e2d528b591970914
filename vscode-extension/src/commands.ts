/**
 * The palette commands and how server answers are shown: why/trace in a report panel, replays
 * with cancellable progress ending in the seed-style verdict, debugging in a `flux` debug session. Server-side command ids
 * (`flux.why`, …) belong to the language client, so palette ids are `flux.palette.*`.
 */

import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import { ENTER_ID, type ExecutionItem, askForId, executionItem, fetchExecutions, pickExecution, recentFailures } from "./executions";
import {
  type CommandResult,
  SERVER_COMMANDS,
  asCommandResult,
  isCancelled,
  isObject,
  normalizeId,
  replayReport,
  savedCase,
  shortId,
  verdictLine,
} from "./protocol";
import type { FluxDebugger } from "./debug";
import type { FluxServer } from "./server";
import type { TailChannel } from "./tail";
import type { ReportPanels } from "./webview/panel";

export const PALETTE = {
  why: "flux.palette.why",
  showTrace: "flux.palette.showTrace",
  replayIncident: "flux.palette.replayIncident",
  replayRequest: "flux.palette.replayRequest",
  tail: "flux.palette.tail",
  restartServer: "flux.palette.restartServer",
  showFailures: "flux.palette.showFailures",
  saveRegressionTest: "flux.palette.saveRegressionTest",
  debugRequest: "flux.palette.debugRequest",
} as const;

export const WINDOW_CHOICES = {
  last15: "Last 15 minutes",
  lastHour: "Last hour",
  around: "Around the selected failure",
  custom: "Custom from..to…",
} as const;

export const SHOW_DETAILS = "Show Details";

export function validateWindow(text: string): string | undefined {
  const [from, to] = text.split("..");
  return text.includes("..") && from?.trim() && to?.trim()
    ? undefined
    : "FROM..TO, e.g. 09:00..09:20, -30m..now, or two ISO date-times";
}

function idArg(value: unknown): string | undefined {
  if (typeof value === "string") {
    return normalizeId(value);
  }
  if (isObject(value) && typeof value.id === "string") {
    return normalizeId(value.id);
  }
  return undefined;
}

export class FluxCommands {
  /** The id of the failure last chosen in a pick, for "around the selected failure". */
  selected: string | undefined;
  readonly replayOutput: vscode.OutputChannel;

  constructor(
    private readonly server: FluxServer,
    private readonly panels: ReportPanels,
    private readonly tail: TailChannel,
    private readonly fluxDebugger?: FluxDebugger,
  ) {
    this.replayOutput = vscode.window.createOutputChannel("Flux Replay");
  }

  register(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: unknown[]) => Promise<unknown>): vscode.Disposable =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          void vscode.window.showErrorMessage(`Flux: ${(err as Error).message}`);
          return undefined;
        }
      });
    return [
      reg(PALETTE.why, (arg) => this.why(idArg(arg))),
      reg(PALETTE.showTrace, (arg) => this.showTrace(idArg(arg))),
      reg(PALETTE.replayIncident, (arg) => this.replayIncident(typeof arg === "string" ? arg : undefined)),
      reg(PALETTE.replayRequest, (arg) => this.replayRequest(idArg(arg))),
      reg(PALETTE.tail, () => this.tail.start()),
      reg(PALETTE.restartServer, () => this.restartServer()),
      reg(PALETTE.showFailures, () => this.showFailures()),
      reg(PALETTE.saveRegressionTest, (arg) => this.saveRegressionTest(idArg(arg) ?? this.panels.activeExecutionId())),
      reg(PALETTE.debugRequest, (arg) => this.debugRequest(idArg(arg))),
      this.replayOutput,
    ];
  }

  private async chooseId(title: string, given?: string): Promise<string | undefined> {
    if (given) {
      return given;
    }
    const picked = await pickExecution(this.server, title);
    if (picked?.row) {
      this.selected = picked.id;
    }
    return picked?.id;
  }

  async why(id?: string): Promise<void> {
    const chosen = await this.chooseId("Flux: Why…", id);
    if (chosen) {
      await this.openReport(chosen);
    }
  }

  async showTrace(id?: string): Promise<void> {
    const chosen = await this.chooseId("Flux: Show Trace…", id);
    if (chosen) {
      await this.openReport(chosen);
    }
  }

  /** The report panel: the trace and, when the server can say, why it failed. */
  async openReport(id: string, extra: object = {}): Promise<void> {
    const arg = { ...extra, id };
    const [trace, why] = await Promise.all([
      this.server.execute(SERVER_COMMANDS.trace, arg).then(asCommandResult),
      this.server
        .execute(SERVER_COMMANDS.why, arg)
        .then(asCommandResult)
        .catch(() => undefined),
    ]);
    const executionId = trace?.execution_id ?? why?.execution_id ?? id;
    this.panels.show(executionId, { trace, why });
  }

  async showFailures(): Promise<void> {
    const failures = await recentFailures(this.server);
    if (failures.lines.length === 0) {
      void vscode.window.showInformationMessage(failures.empty);
      return;
    }
    const items: ExecutionItem[] = failures.lines.map(executionItem);
    const choice = await vscode.window.showQuickPick(items, {
      title: failures.title,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (choice?.row) {
      this.selected = choice.row.id;
      await this.openReport(choice.row.id);
    }
  }

  async replayIncident(window?: string): Promise<CommandResult | undefined> {
    const arg = window ? { window } : await this.chooseWindow();
    if (!arg) {
      return undefined;
    }
    const title = "window" in arg ? `Replaying ${arg.window}` : `Replaying the incident around ${shortId(arg.id)}`;
    return this.runReplay(SERVER_COMMANDS.incidentReplay, arg, title);
  }

  /** The `flux.incidentReplay` argument: a `{window}`, or `{id}` for the server's window around a failure. */
  async chooseWindow(): Promise<{ window: string } | { id: string } | undefined> {
    const items: vscode.QuickPickItem[] = [
      { label: WINDOW_CHOICES.last15, description: "-15m..now" },
      { label: WINDOW_CHOICES.lastHour, description: "-1h..now" },
      {
        label: WINDOW_CHOICES.around,
        description: this.selected ? shortId(this.selected) : "pick a failure",
      },
      { label: WINDOW_CHOICES.custom, description: "e.g. 09:00..09:20" },
    ];
    const choice = await vscode.window.showQuickPick(items, {
      title: "Flux: Replay Incident…",
      placeHolder: "Which window of recorded requests to replay",
    });
    switch (choice?.label) {
      case WINDOW_CHOICES.last15:
        return { window: "-15m..now" };
      case WINDOW_CHOICES.lastHour:
        return { window: "-1h..now" };
      case WINDOW_CHOICES.around: {
        const id = this.selected ?? (await pickExecution(this.server, "Flux: replay around which failure?"))?.id;
        if (!id) {
          return undefined;
        }
        this.selected = id;
        return { id };
      }
      case WINDOW_CHOICES.custom: {
        const text = await vscode.window.showInputBox({
          title: "Flux: replay window",
          prompt: "FROM..TO",
          placeHolder: "09:00..09:20",
          validateInput: validateWindow,
        });
        return text?.trim() ? { window: text.trim() } : undefined;
      }
      default:
        return undefined;
    }
  }

  async replayRequest(id?: string): Promise<CommandResult | undefined> {
    const chosen = await this.chooseId("Flux: Replay Request…", id);
    if (!chosen) {
      return undefined;
    }
    return this.runReplay(SERVER_COMMANDS.replay, { id: chosen }, `Replaying ${shortId(chosen)}`);
  }

  /**
   * Run a replay and end with the verdict (the full text goes to an output channel). The server
   * reports work-done progress, which the language client shows as a notification with a Cancel
   * button; the status bar shows a spinner meanwhile.
   */
  async runReplay(command: string, arg: object, title: string): Promise<CommandResult | undefined> {
    let answer: CommandResult | undefined;
    try {
      answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `Flux: ${title}…` },
        async () => asCommandResult(await this.server.execute(command, arg)),
      );
    } catch (err) {
      if (isCancelled(err)) {
        void vscode.window.showInformationMessage("Flux: replay cancelled.");
      } else {
        void vscode.window.showErrorMessage(`Flux: replay failed: ${(err as Error).message}`);
      }
      return undefined;
    }
    if (!answer) {
      void vscode.window.showErrorMessage("Flux: the server gave no replay result.");
      return undefined;
    }
    this.showVerdict(answer);
    return answer;
  }

  showVerdict(result: CommandResult): void {
    const verdict = verdictLine(result);
    this.replayOutput.appendLine(result.markdown?.trim() || verdict);
    this.replayOutput.appendLine("");
    const failing = replayReport(result)?.ok === false;
    const show = failing ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void Promise.resolve(show(`Flux: ${verdict}`, SHOW_DETAILS)).then((choice) => {
      if (choice === SHOW_DETAILS) {
        this.replayOutput.show(true);
      }
    });
  }

  /**
   * `flux test add` from the editor: the server writes the case under `tests/flux/` and opens
   * it (window/showDocument); this says where it went. From a report panel's title bar the
   * panel's execution is used; from the palette, a pick.
   */
  async saveRegressionTest(id?: string, extra: object = {}): Promise<CommandResult | undefined> {
    const chosen = await this.chooseId("Flux: Save as Regression Test…", id);
    if (!chosen) {
      return undefined;
    }
    const answer = asCommandResult(await this.server.execute(SERVER_COMMANDS.saveRegressionTest, { ...extra, id: chosen }));
    const summary = savedCase(answer)?.summary;
    void vscode.window.showInformationMessage(`Flux: ${summary ?? "regression test saved."}`);
    return answer;
  }

  /** Flux: Debug Request… — a recent failure (or a typed id) under the `flux` debugger. */
  async debugRequest(id?: string): Promise<boolean> {
    const chosen = await this.chooseId("Flux: Debug Request…", id);
    if (!chosen || !this.fluxDebugger) {
      return false;
    }
    return this.fluxDebugger.start(chosen);
  }

  async restartServer(): Promise<void> {
    await this.server.restart();
  }

  /**
   * Language-client middleware: server commands run from code lenses and code actions show
   * their answers the same way the palette does.
   */
  middleware(): Middleware {
    return {
      executeCommand: async (command, args, next) => {
        const first = args[0];
        const arg = isObject(first) ? first : typeof first === "string" ? { id: first } : {};
        switch (command) {
          case SERVER_COMMANDS.why:
          case SERVER_COMMANDS.trace: {
            const id = idArg(first);
            return id ? this.openReport(id, arg) : next(command, args);
          }
          case SERVER_COMMANDS.replay:
            return this.runReplay(command, arg, `Replaying ${shortId(idArg(first) ?? "")}`);
          case SERVER_COMMANDS.incidentReplay:
            return this.runReplay(command, arg, "Replaying the incident");
          case SERVER_COMMANDS.tail:
            return this.showRecent(arg);
          case SERVER_COMMANDS.debug: {
            const id = idArg(first);
            return id && this.fluxDebugger ? this.debugRequest(id) : next(command, args);
          }
          case SERVER_COMMANDS.saveRegressionTest: {
            const id = idArg(first);
            return id ? this.saveRegressionTest(id, arg) : next(command, args);
          }
          default:
            return next(command, args);
        }
      },
    };
  }

  /** A code lens's `flux.tail` (one function's recent executions): a quick pick that opens one. */
  async showRecent(arg: object): Promise<void> {
    const rows = await fetchExecutions(this.server, arg);
    if (rows.length === 0) {
      void vscode.window.showInformationMessage("Flux: no recorded executions yet.");
      return;
    }
    const choice = await vscode.window.showQuickPick(rows.map(executionItem), {
      title: "Flux: recent executions",
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (choice?.row) {
      await this.openReport(choice.row.id, arg);
    }
  }
}

export { ENTER_ID, askForId };
