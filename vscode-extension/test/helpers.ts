/** Shared test plumbing: the double and the fake client, reached the way the extension reaches them. */

import type * as Double from "./vscode-double";
import type { FakeLanguageClient as FakeClient } from "./setup";

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const vscode = require("vscode") as typeof Double;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const setup = require("flux-test-setup") as { fakeClients: FakeClient[]; FakeLanguageClient: typeof FakeClient };

/** A FluxServer that answers from a table and records the calls. */
export class ScriptedServer {
  calls: { command: string; arg: any; token?: any }[] = [];
  restarts = 0;
  constructor(public answers: { [command: string]: (arg: any, token?: any) => any }) {}
  async execute(command: string, arg: object, token?: any): Promise<unknown> {
    this.calls.push({ command, arg, token });
    const answer = this.answers[command];
    if (!answer) {
      throw new Error(`unexpected server command ${command}`);
    }
    return answer(arg, token);
  }
  async restart(): Promise<void> {
    this.restarts++;
  }
}

export function pickLabel(label: string) {
  return (items: any[]) => {
    const found = items.find((item) => item.label === label || item.label.includes(label));
    if (!found) {
      throw new Error(`no quick pick item ${label}; have ${items.map((i) => i.label).join(" | ")}`);
    }
    return found;
  };
}

export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
