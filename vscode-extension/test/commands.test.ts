/** Palette flows: quick picks of failures or an id, report panels, replay windows, progress and verdicts. */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { FluxCommands, PALETTE, WINDOW_CHOICES } from "../src/commands";
import { ENTER_ID, executionItem } from "../src/executions";
import { tailRows } from "../src/protocol";
import { FailureStatus } from "../src/statusBar";
import { TailChannel } from "../src/tail";
import { ReportPanels } from "../src/webview/panel";
import { FAILING_ID, replayResult, tailResult, traceResult, whyResult } from "./fixtures";
import { ScriptedServer, pickLabel, vscode } from "./helpers";

function make(answers: ConstructorParameters<typeof ScriptedServer>[0] = {}) {
  const server = new ScriptedServer({
    "flux.tail": () => tailResult,
    "flux.trace": () => traceResult,
    "flux.why": () => whyResult,
    "flux.incidentReplay": () => replayResult,
    "flux.replay": () => replayResult,
    ...answers,
  });
  const panels = new ReportPanels();
  const tail = new TailChannel(server, 60_000);
  const commands = new FluxCommands(server, panels, tail);
  commands.register();
  return { server, panels, tail, commands };
}

beforeEach(() => vscode.reset());

test("Show Trace: a recent failure from the quick pick opens the report panel", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.showTrace);
  const pick = vscode.log.quickPicks[0];
  assert.equal(pick.items.length, 3, "two failures and the enter-an-id entry");
  assert.equal(pick.items[2].label, ENTER_ID);
  assert.match(pick.items[0].description, /req:7c8d9e0f/);
  assert.match(pick.items[1].label, /JOB send_onboarding_email {2}failed/);
  assert.deepEqual(server.calls[0], { command: "flux.tail", arg: { status: "failed", since: "24h", limit: 50 }, token: undefined });
  const commands = server.calls.slice(1).map((c) => [c.command, c.arg]);
  assert.deepEqual(commands.sort(), [["flux.trace", { id: FAILING_ID }], ["flux.why", { id: FAILING_ID }]]);
  assert.equal(vscode.log.panels.length, 1);
  const panel = vscode.log.panels[0];
  assert.equal(panel.title, "Flux req:7c8d9e0f");
  assert.equal(panel.options.enableScripts, false);
  assert.equal((panel.webview.html.match(/class="span-bar"/g) ?? []).length, 4);
  assert.match(panel.webview.html, /ROOT CAUSE/);
  assert.match(panel.webview.html, /vscode-webview:\/\/test/, "CSP names the webview source");
});

test("Why: entering an id normalises it; the window setting narrows the failure list", async () => {
  vscode.config["flux.window"] = "2h";
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(ENTER_ID));
  vscode.answers.inputBox.push("REQ:7C8D9E0F");
  await vscode.commands.executeCommand(PALETTE.why);
  assert.equal(server.calls[0].arg.since, "2h");
  assert.ok(server.calls.some((c) => c.command === "flux.why" && c.arg.id === "7c8d9e0f"));
  assert.equal(vscode.log.panels.length, 1);
});

test("Why: an id that is not one is refused by the input box", async () => {
  make();
  vscode.answers.quickPick.push(pickLabel(ENTER_ID));
  vscode.answers.inputBox.push("not an id!");
  await vscode.commands.executeCommand(PALETTE.why);
  const errors = vscode.log.messages.filter((m) => m.level === "error");
  assert.equal(errors.length, 1);
  assert.match(errors[0].text, /input box rejected/);
  assert.equal(vscode.log.panels.length, 0);
});

test("dismissing the quick pick does nothing", async () => {
  const { server } = make();
  await vscode.commands.executeCommand(PALETTE.showTrace);
  assert.deepEqual(server.calls.map((c) => c.command), ["flux.tail"]);
  assert.equal(vscode.log.panels.length, 0);
});

test("a server error becomes one error message, not an exception", async () => {
  make({
    "flux.trace": () => {
      throw new Error("no execution matches req:deadbeef");
    },
  });
  await vscode.commands.executeCommand(PALETTE.showTrace, "req:deadbeef");
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [["error", "Flux: no execution matches req:deadbeef"]]);
});

test("Replay Incident: last 15 minutes runs with progress and ends with the seed-style verdict", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.last15));
  vscode.answers.message.push("Show Details");
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  const labels = vscode.log.quickPicks[0].items.map((i: { label: string }) => i.label);
  assert.deepEqual(labels, Object.values(WINDOW_CHOICES));
  const call = server.calls.find((c) => c.command === "flux.incidentReplay")!;
  assert.deepEqual(call.arg, { window: "-15m..now" });
  assert.equal(vscode.log.progress.length, 1);
  const info = vscode.log.messages.find((m) => m.level === "info")!;
  assert.equal(info.text, "Flux: 7 replayed · 7 passing · 0 still failing  ✔ incident resolved");
  await new Promise((r) => setImmediate(r));
  const output = vscode.log.outputs.get("Flux Replay")!;
  assert.match(output.lines[0], /^\*\*Flux: Replaying 7 requests…\*\*/);
  assert.equal(output.shown, 1, "Show Details reveals the full replay");
});

test("Replay Incident: last hour, custom window, and around the selected failure", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.lastHour));
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.custom));
  vscode.answers.inputBox.push("09:00..09:20");
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  // No failure selected yet: "around" asks for one first.
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.around), pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  const windows = server.calls.filter((c) => c.command === "flux.incidentReplay").map((c) => c.arg.window);
  assert.deepEqual(windows.slice(0, 2), ["-1h..now", "09:00..09:20"]);
  const around = server.calls.filter((c) => c.command === "flux.incidentReplay")[2].arg;
  assert.deepEqual(around, { id: FAILING_ID }, "the server picks the window around the failure");
});

test("Replay Incident: a custom window without .. is refused", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.custom));
  vscode.answers.inputBox.push("09:00");
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  assert.equal(server.calls.filter((c) => c.command === "flux.incidentReplay").length, 0);
});

test("Replay: a cancelled replay (Cancel on the server's progress) says so and shows no verdict", async () => {
  make({
    "flux.replay": () => {
      throw new Error("replay cancelled");
    },
  });
  await vscode.commands.executeCommand(PALETTE.replayRequest, "req:7c8d9e0f");
  assert.deepEqual(vscode.log.messages.map((m) => m.text), ["Flux: replay cancelled."]);
});

test("Replay Request: a still-failing verdict is a warning", async () => {
  const { server } = make({
    "flux.replay": () => ({
      kind: "replay",
      execution_id: FAILING_ID,
      report: { ok: false, verdict_line: "1 replayed · 0 passing · 1 still failing  ✗ not resolved" },
      markdown: "- ✗ `req:7c8d9e0f` payment_intent.succeeded 500 32ms",
    }),
  });
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.replayRequest);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID });
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [
    ["warning", "Flux: 1 replayed · 0 passing · 1 still failing  ✗ not resolved"],
  ]);
});

test("Replay Request: a newly failing request is a warning too (the report says not ok)", async () => {
  make({
    "flux.replay": () => ({
      kind: "replay",
      execution_id: FAILING_ID,
      report: { ok: false, verdict_line: "1 replayed · 0 passing · 0 still failing · 1 newly failing  ✗ not resolved" },
      markdown: "",
    }),
  });
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.replayRequest);
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [
    ["warning", "Flux: 1 replayed · 0 passing · 0 still failing · 1 newly failing  ✗ not resolved"],
  ]);
});

test("code actions and code lenses from the server are shown like the palette's (middleware)", async () => {
  const { server, commands } = make();
  const executeCommand = commands.middleware().executeCommand!;
  let passedThrough = 0;
  const next = async (): Promise<void> => {
    passedThrough++;
  };
  // Code action "Flux: Why req:7c8d9e0f": its {id, uri} reaches the server, the panel opens.
  await executeCommand("flux.why", [{ id: "req:7c8d9e0f", uri: "file:///p/functions/stripe_webhook.py" }], next);
  assert.equal(passedThrough, 0);
  assert.equal(vscode.log.panels.length, 1);
  assert.deepEqual(server.calls.find((c) => c.command === "flux.trace")!.arg, {
    id: "7c8d9e0f",
    uri: "file:///p/functions/stripe_webhook.py",
  });
  // Code lens "flux.tail" for one function: a quick pick of its executions.
  vscode.answers.quickPick.push(pickLabel("JOB send_onboarding_email"));
  await executeCommand("flux.tail", [{ function: "send_onboarding_email", uri: "file:///p/x.py" }], next);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: recent executions");
  assert.deepEqual(server.calls.find((c) => c.command === "flux.tail")!.arg, { function: "send_onboarding_email", uri: "file:///p/x.py" });
  assert.ok(server.calls.some((c) => c.command === "flux.why" && c.arg.id === "2b3c4d5e00000000"));
  // Code action "Replay incident": the server's argument goes through unchanged.
  await executeCommand("flux.incidentReplay", [{ id: FAILING_ID, uri: "file:///p/x.py" }], next);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID, uri: "file:///p/x.py" });
  // Anything else is the client's default.
  await executeCommand("flux.traceDiff", [{ a: "1", b: "2" }], next);
  assert.equal(passedThrough, 1);
});

const savedResult = {
  kind: "saveRegressionTest",
  execution_id: FAILING_ID,
  report: { path: "tests/flux/stripe_webhook_7c8d9e0f.json", name: "stripe_webhook_7c8d9e0f" },
  markdown: "Saved tests/flux/stripe_webhook_7c8d9e0f.json",
};

test("Save as Regression Test: from the palette (a picked failure) and from a report panel's title bar", async () => {
  const { server } = make({ "flux.saveRegressionTest": () => savedResult });
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.saveRegressionTest);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: Save as Regression Test…");
  assert.deepEqual(server.calls.at(-1), { command: "flux.saveRegressionTest", arg: { id: FAILING_ID }, token: undefined });
  assert.deepEqual(vscode.log.messages.at(-1), {
    level: "info",
    text: "Flux: saved tests/flux/stripe_webhook_7c8d9e0f.json (run it with flux test)",
    buttons: [],
  });

  // The title-bar button of a trace report saves that report's execution, without a pick.
  await vscode.commands.executeCommand(PALETTE.showTrace, "req:deadbeef");
  const picks = vscode.log.quickPicks.length;
  await vscode.commands.executeCommand(PALETTE.saveRegressionTest);
  assert.equal(vscode.log.quickPicks.length, picks);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID });
});

test("the server's Save as regression test code action is run and reported like the palette's", async () => {
  const { server, commands } = make({ "flux.saveRegressionTest": () => savedResult });
  const next = async (): Promise<void> => assert.fail("handled by the extension");
  const arg = { id: FAILING_ID, uri: "file:///p/functions/stripe_webhook.py" };
  await commands.middleware().executeCommand!("flux.saveRegressionTest", [arg], next);
  assert.deepEqual(server.calls.at(-1)!.arg, arg);
  assert.match(vscode.log.messages.at(-1)!.text, /saved tests\/flux\/stripe_webhook_7c8d9e0f\.json/);
});

test("status bar counts failures in the window and opens their quick pick", async () => {
  const { server } = make();
  const status = new FailureStatus(server as never, 60_000);
  await status.refresh();
  assert.equal(status.count, 2);
  assert.equal(status.item.text, "$(error) Flux: 2 failing");
  assert.equal(status.item.command, PALETTE.showFailures);
  vscode.answers.quickPick.push(pickLabel("JOB send_onboarding_email"));
  await vscode.commands.executeCommand(status.item.command!);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: 2 failures");
  assert.ok(server.calls.some((c) => c.command === "flux.trace" && c.arg.id === "2b3c4d5e00000000"));
  status.dispose();
});

test("status bar with a server error says so in its tooltip", async () => {
  const server = new ScriptedServer({});
  const status = new FailureStatus(server as never, 60_000);
  await status.refresh();
  assert.equal(status.item.text, "$(warning) Flux");
  assert.match(String(status.item.tooltip), /unexpected server command flux.tail/);
  status.dispose();
});

test("Tail follows the server's cursor and prints what the server sends, in flux tail's lines", async () => {
  const { server, tail } = make({
    "flux.tail": (arg) => (arg.cursor ? { kind: "tail", report: { lines: [], cursor: arg.cursor } } : tailResult),
  });
  await vscode.commands.executeCommand(PALETTE.tail);
  assert.deepEqual(server.calls[0].arg, { limit: 20, follow: true });
  const lines = vscode.log.outputs.get("Flux Tail")!.lines.slice(1);
  assert.equal(lines[0], "  POST /stripe_webhook  500  32ms  req:7c8d9e0f  11:06:40");
  assert.equal(lines[1], "     └─ Error: Row not found: subscriptions WHERE customer_id = 'cus_ABC'");
  await tail.poll();
  assert.deepEqual(server.calls.at(-1)!.arg, { cursor: "cursor-1" }, "later looks pass the cursor");
  assert.equal(vscode.log.outputs.get("Flux Tail")!.lines.length, 6, "the server sent nothing new");
  tail.stop();
});

test("a client error is a warning in the pick and a ← line in the tail, as flux tail prints it", () => {
  const row = { ...tailRows(tailResult)[0], status: "404", outcome: "client_error", error: { type: "NotFound", message: "no such user", location: null } };
  assert.match(executionItem(row).label, /^\$\(warning\) POST \/stripe_webhook {2}404$/);
  const tail = new TailChannel(new ScriptedServer({}), 60_000);
  tail.print([row]);
  assert.deepEqual(vscode.log.outputs.get("Flux Tail")!.lines, [
    "  POST /stripe_webhook  404  32ms  req:7c8d9e0f  11:06:40",
    "     ← Error: no such user",
  ]);
  tail.dispose();
});
