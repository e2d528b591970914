/**
 * `Flux: Tail`: an output channel that streams new executions as the server records them, in
 * the lines `flux tail` prints. The first `flux.tail` call asks the server to follow
 * (`{"follow": true}`) and gets a cursor; each later call passes the cursor and gets only what
 * was recorded since, oldest first. Which executions are new is the server's business.
 */

import * as vscode from "vscode";
import { SERVER_COMMANDS, type TailLine, isObject, tailLine, tailRows } from "./protocol";
import type { FluxServer } from "./server";

export class TailChannel implements vscode.Disposable {
  readonly channel: vscode.OutputChannel;
  private timer: ReturnType<typeof setInterval> | undefined;
  private cursor: string | undefined;
  private busy = false;

  constructor(
    private readonly server: FluxServer,
    private readonly intervalMs = 1500,
  ) {
    this.channel = vscode.window.createOutputChannel("Flux Tail");
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  async start(): Promise<void> {
    this.channel.show(true);
    if (this.timer) {
      return;
    }
    this.channel.appendLine("Tailing executions (Flux: Tail again shows this channel)…");
    this.cursor = undefined;
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.cursor = undefined;
  }

  /** One look: the latest executions and a cursor the first time, then what is new since. */
  async poll(): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    try {
      const arg = this.cursor ? { cursor: this.cursor } : { limit: 20, follow: true };
      const answer = await this.server.execute(SERVER_COMMANDS.tail, arg);
      const report = isObject(answer) ? answer.report : undefined;
      if (isObject(report) && typeof report.cursor === "string") {
        this.cursor = report.cursor;
      }
      this.print(tailRows(answer));
    } catch (err) {
      this.cursor = undefined;
      this.channel.appendLine(`[flux] tail: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** Each row as `flux tail` prints it: its line, then its error or its data changes. */
  print(rows: readonly TailLine[]): void {
    for (const row of rows) {
      this.channel.appendLine(`  ${tailLine(row)}`);
      const more = row.error ? [`${row.error_marker} Error: ${row.error.message}`] : row.changes;
      for (const line of more) {
        this.channel.appendLine(`     ${line}`);
      }
      if (more.length > 0) {
        this.channel.appendLine("");
      }
    }
  }

  dispose(): void {
    this.stop();
    this.channel.dispose();
  }
}
