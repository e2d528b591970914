/**
 * `Flux: Tail`: an output channel that streams new executions as the server records them, in
 * the lines `flux tail` prints. It polls `flux.tail` for executions newer than the last seen.
 */

import * as vscode from "vscode";
import { isoLocal } from "./commands";
import { fetchExecutions } from "./executions";
import { type TailRow, tailLine } from "./protocol";
import type { FluxServer } from "./server";

export class TailChannel implements vscode.Disposable {
  readonly channel: vscode.OutputChannel;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly seen = new Set<string>();
  private newest = 0;
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
    await this.poll({ limit: 20 });
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** One fetch: print executions not printed yet, oldest first. */
  async poll(args?: { limit?: number }): Promise<void> {
    if (this.busy) {
      return;
    }
    this.busy = true;
    try {
      const query = args ?? { since: this.newest ? isoLocal(Math.floor(this.newest)) : "15m", limit: 100 };
      const rows = await fetchExecutions(this.server, query);
      this.print(rows);
    } catch (err) {
      this.channel.appendLine(`[flux] tail: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  print(rows: TailRow[]): void {
    const fresh = rows.filter((row) => !this.seen.has(row.id)).sort((a, b) => a.started_at - b.started_at);
    for (const row of fresh) {
      this.seen.add(row.id);
      this.newest = Math.max(this.newest, row.started_at);
      this.channel.appendLine(`  ${tailLine(row)}`);
      if (row.error) {
        this.channel.appendLine(`     ${row.outcome === "failed" ? "└─" : "←"} Error: ${row.error}`);
      }
    }
  }

  dispose(): void {
    this.stop();
    this.channel.dispose();
  }
}
