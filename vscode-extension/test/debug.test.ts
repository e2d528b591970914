/** The `flux` debugger type: the palette, code actions and launch.json start a session; the adapter connects to the port flux.debug answers. */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { FluxCommands, PALETTE } from "../src/commands";
import { DEBUG_TYPE, FluxDebugger } from "../src/debug";
import type { DebugEndpoint } from "../src/protocol";
import { TailChannel } from "../src/tail";
import { ReportPanels } from "../src/webview/panel";
import { FAILING_ID, FAILING_SHORT, failures } from "./fixtures";
import { ScriptedServer, pickLabel, vscode } from "./helpers";

/** What flux.debug answers (a live debug session's port and process, so typed, not recorded). */
const endpoint: DebugEndpoint = {
  host: "127.0.0.1",
  port: 43117,
  pid: 4242,
  execution_id: FAILING_ID,
  short_id: FAILING_SHORT,
  label: "POST /stripe_webhook",
  stop_at: { file: "/project/functions/stripe_webhook.py", line: 12 },
};

function make() {
  const server = new ScriptedServer({
    "flux.failures": () => failures,
    "flux.debug": (arg) => ({ kind: "debug", execution_id: arg.id, report: endpoint, markdown: "" }),
  });
  const debug = new FluxDebugger(server);
  debug.register();
  const commands = new FluxCommands(server, new ReportPanels(), new TailChannel(server, 60_000), debug);
  commands.register();
  return { server, debug, commands };
}

beforeEach(() => vscode.reset());

test("Debug Request…: a recent failure starts a flux attach session for it", async () => {
  make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.debugRequest);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: Debug Request…");
  assert.equal(vscode.log.debugStarts.length, 1);
  assert.deepEqual(vscode.log.debugStarts[0].config, {
    type: "flux",
    request: "attach",
    name: `Flux: debug ${FAILING_SHORT}`,
    execution: FAILING_ID,
  });
});

test("the code action's flux.debug starts the session instead of calling the server itself", async () => {
  const { server, commands } = make();
  const next = () => {
    throw new Error("the server command must go through the debugger");
  };
  await commands.middleware().executeCommand!("flux.debug", [{ id: FAILING_ID, uri: "file:///p/x.py" }], next);
  assert.equal(vscode.log.debugStarts[0].config.execution, FAILING_ID);
  assert.equal(server.calls.length, 0, "flux.debug runs when VS Code asks for the adapter");
});

test("the adapter descriptor asks flux.debug and connects to the port it answers", async () => {
  const { server } = make();
  const factory = vscode.debugProviders.get(DEBUG_TYPE)!.factory;
  const descriptor = await factory.createDebugAdapterDescriptor({ configuration: { type: "flux", execution: FAILING_ID, port: 5678 } });
  assert.deepEqual(server.calls[0].arg, { id: FAILING_ID, port: 5678 });
  assert.ok(descriptor instanceof vscode.DebugAdapterServer);
  assert.equal(descriptor.port, 43117);
  assert.equal(descriptor.host, "127.0.0.1");
});

test("an error from the server fails the session with its message", async () => {
  const server = new ScriptedServer({
    "flux.debug": () => {
      throw new Error("flux.debug: cannot debug req:7c8d9e0f: function stripe_webhook no longer exists");
    },
  });
  const debug = new FluxDebugger(server);
  await assert.rejects(debug.createDebugAdapterDescriptor({ configuration: { execution: FAILING_ID } } as any), /no longer exists/);
});

test("launch.json without an execution picks one; cancelling the pick starts nothing", async () => {
  const { debug } = make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  const resolved = await debug.resolveDebugConfiguration(undefined, { type: "flux", request: "attach", name: "x", execution: "" });
  assert.equal(resolved?.execution, FAILING_ID);
  const cancelled = await debug.resolveDebugConfiguration(undefined, { type: "flux", request: "attach", name: "x" });
  assert.equal(cancelled, undefined);
});
