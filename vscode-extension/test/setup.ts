/**
 * Loaded before every unit test: `require("vscode")` answers the test double, and
 * `require("vscode-languageclient/node")` a fake LanguageClient that records how it was made.
 */

import Module from "node:module";
import * as double from "./vscode-double";

export const fakeClients: FakeLanguageClient[] = [];

export class FakeLanguageClient {
  running = false;
  started = 0;
  stopped = 0;
  requests: { params: any; token: any }[] = [];
  static failStart: Error | undefined;
  static answer: (params: any) => any = () => null;
  constructor(
    readonly id: string,
    readonly name: string,
    readonly serverOptions: any,
    readonly clientOptions: any,
  ) {
    fakeClients.push(this);
  }
  async start(): Promise<void> {
    this.started++;
    if (FakeLanguageClient.failStart) {
      throw FakeLanguageClient.failStart;
    }
    this.running = true;
  }
  async stop(): Promise<void> {
    this.stopped++;
    this.running = false;
  }
  async dispose(): Promise<void> {
    this.running = false;
  }
  isRunning(): boolean {
    return this.running;
  }
  async sendRequest(_type: any, params: any, token?: any): Promise<any> {
    this.requests.push({ params, token });
    return FakeLanguageClient.answer(params);
  }
}

const fakeLanguageClient = {
  LanguageClient: FakeLanguageClient,
  ExecuteCommandRequest: { type: { method: "workspace/executeCommand" } },
  TransportKind: { stdio: 0, ipc: 1, pipe: 2, socket: 3 },
};

const original = (Module as any)._load;
(Module as any)._load = function load(request: string, parent: unknown, isMain: boolean): unknown {
  if (request === "vscode") {
    return double;
  }
  if (request === "vscode-languageclient/node") {
    return fakeLanguageClient;
  }
  if (request === "flux-test-setup") {
    return { fakeClients, FakeLanguageClient };
  }
  return original.call(this, request, parent, isMain);
};
