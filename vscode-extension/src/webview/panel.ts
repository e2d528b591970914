/**
 * The editor panel that shows a why/trace report: one panel per execution, its HTML made by
 * `render.ts` with the webview's CSP source and a fresh nonce. Scripts stay disabled.
 */

import * as vscode from "vscode";
import { shortId } from "../protocol";
import { type ReportInput, makeNonce, renderReportHtml } from "./render";

export const VIEW_TYPE = "flux.report";

export class ReportPanels implements vscode.Disposable {
  private readonly panels = new Map<string, vscode.WebviewPanel>();

  show(executionId: string, input: ReportInput): vscode.WebviewPanel {
    let panel = this.panels.get(executionId);
    if (!panel) {
      panel = vscode.window.createWebviewPanel(
        VIEW_TYPE,
        `Flux ${shortId(executionId)}`,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
        { enableScripts: false, enableCommandUris: false, localResourceRoots: [] },
      );
      this.panels.set(executionId, panel);
      panel.onDidDispose(() => this.panels.delete(executionId));
    } else {
      panel.reveal(vscode.ViewColumn.Beside);
    }
    panel.webview.html = renderReportHtml(input, { nonce: makeNonce(), cspSource: panel.webview.cspSource });
    return panel;
  }

  /** The execution of the report panel in front, if one is (for its title-bar actions). */
  activeExecutionId(): string | undefined {
    for (const [executionId, panel] of this.panels) {
      if (panel.active) {
        return executionId;
      }
    }
    return undefined;
  }

  dispose(): void {
    for (const panel of this.panels.values()) {
      panel.dispose();
    }
    this.panels.clear();
  }
}
