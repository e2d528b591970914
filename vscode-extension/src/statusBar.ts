/**
 * The status bar item: how many executions failed within `flux.window` for the workspace, as
 * the server counts and words it (`flux.failures`); this draws its label, tooltip and state.
 * Clicking it opens the quick pick of those failures. Refreshed on a timer and whenever
 * diagnostics change (the server republishes them as new executions are recorded).
 */

import * as vscode from "vscode";
import { PALETTE } from "./commands";
import { recentFailures } from "./executions";
import type { FluxServer } from "./server";

/** The icon of each `state` the server sends. */
const STATE_ICON: Record<string, string> = { failing: "$(error)", clear: "$(check)" };

export class FailureStatus implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  count: number | undefined;

  constructor(
    private readonly server: FluxServer,
    refreshMs = 30000,
  ) {
    this.item = vscode.window.createStatusBarItem("flux.failures", vscode.StatusBarAlignment.Left, 50);
    this.item.name = "Flux failures";
    this.item.command = PALETTE.showFailures;
    this.item.text = "$(pulse) Flux";
    this.item.show();
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref?.();
    this.disposables.push(
      vscode.languages.onDidChangeDiagnostics(() => this.soon()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("flux")) {
          this.soon();
        }
      }),
    );
  }

  private soon(): void {
    if (this.pending) {
      clearTimeout(this.pending);
    }
    this.pending = setTimeout(() => void this.refresh(), 500);
  }

  async refresh(): Promise<void> {
    try {
      const failures = await recentFailures(this.server);
      this.count = failures.count;
      this.item.text = `${STATE_ICON[failures.state] ?? ""} ${failures.label}`;
      this.item.tooltip = failures.tooltip;
      this.item.backgroundColor =
        failures.state === "failing" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    } catch (err) {
      this.count = undefined;
      this.item.text = "$(warning) Flux";
      this.item.tooltip = `Flux: ${(err as Error).message}`;
      this.item.backgroundColor = undefined;
    }
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    if (this.pending) {
      clearTimeout(this.pending);
    }
    for (const d of this.disposables) {
      d.dispose();
    }
    this.item.dispose();
  }
}
