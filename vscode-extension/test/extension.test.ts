/** Activation: every contributed command is registered; the server starts from the resolved command. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, test } from "node:test";
import { activate, deactivate } from "../src/extension";
import { failures } from "./fixtures";
import { flush, setup, vscode } from "./helpers";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));

function fakeContext(): any {
  return { subscriptions: [] as { dispose(): void }[] };
}

beforeEach(() => {
  vscode.reset();
  setup.fakeClients.length = 0;
  setup.FakeLanguageClient.failStart = undefined;
  setup.FakeLanguageClient.answer = () => failures;
});

test("activation registers exactly the contributed palette commands", async () => {
  vscode.config["flux.serverCommand"] = [process.execPath, "server.js"];
  const context = fakeContext();
  await activate(context);
  const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual([...vscode.registered.keys()].sort(), contributed);
  for (const id of contributed) {
    assert.match(id, /^flux\.palette\./, "palette ids must not clash with the server's flux.* commands");
  }
  for (const d of context.subscriptions) d.dispose();
  await deactivate();
});

test("the settings the issue names are contributed", () => {
  const props = Object.keys(manifest.contributes.configuration.properties).sort();
  assert.deepEqual(props, ["flux.functionsDir", "flux.recorder", "flux.serverCommand", "flux.trace.server", "flux.window"]);
  assert.equal(manifest.main, "./dist/extension.js");
});

test("activation starts the language client with the configured command, syncing the flux section", async () => {
  vscode.config["flux.serverCommand"] = [process.execPath, "-m", "flux_lsp", "lsp"];
  const context = fakeContext();
  const api = await activate(context);
  assert.equal(setup.fakeClients.length, 1);
  const client = setup.fakeClients[0];
  assert.equal(client.id, "flux", "client id 'flux' makes flux.trace.server the LSP trace setting");
  assert.equal(client.serverOptions.command, process.execPath);
  assert.deepEqual(client.serverOptions.args, ["-m", "flux_lsp", "lsp"]);
  assert.equal(client.clientOptions.synchronize.configurationSection, "flux");
  assert.equal(api.server.command?.source, "setting");
  await flush();
  assert.equal(api.status.item.text, `$(error) ${failures.report.label}`, "the server's count, as it words it");
  for (const d of context.subscriptions) d.dispose();
});

test("with no server anywhere, activation shows one error with a button to the setting", async () => {
  vscode.config["flux.serverCommand"] = ["/nonexistent/flux-server"];
  const savedPath = process.env.PATH;
  process.env.PATH = "/nonexistent-bin";
  try {
    vscode.answers.message.push("Open Setting");
    const context = fakeContext();
    const api = await activate(context);
    const errors = vscode.log.messages.filter((m) => m.level === "error");
    assert.equal(errors.length, 1);
    assert.match(errors[0].text, /cannot start the language server/);
    assert.deepEqual(errors[0].buttons, ["Open Setting"]);
    assert.deepEqual(vscode.log.executed.at(-1), { command: "workbench.action.openSettings", args: ["flux.serverCommand"] });
    assert.equal(setup.fakeClients.length, 0);
    assert.match(api.status.item.text, /warning/);
    // Asking again (a palette command) does not repeat the notification.
    await assert.rejects(api.server.execute("flux.tail", {}), /not running/);
    assert.equal(vscode.log.messages.filter((m) => m.level === "error").length, 1);
    for (const d of context.subscriptions) d.dispose();
  } finally {
    process.env.PATH = savedPath;
  }
});

test("a server that fails to start gives the same single notification", async () => {
  vscode.config["flux.serverCommand"] = [process.execPath];
  setup.FakeLanguageClient.failStart = new Error("exited with code 1");
  const context = fakeContext();
  await activate(context);
  const errors = vscode.log.messages.filter((m) => m.level === "error");
  assert.equal(errors.length, 1);
  assert.match(errors[0].text, /did not start/);
  for (const d of context.subscriptions) d.dispose();
});
