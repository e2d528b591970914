/** Palette flows: quick picks of failures or an id, report panels, replay windows, progress and verdicts. */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { FluxCommands, PALETTE, WINDOW_CHOICES } from "../src/commands";
import { ENTER_ID, executionItem } from "../src/executions";
import { REQUEST_CANCELLED, type TailLine } from "../src/protocol";
import { FailureStatus } from "../src/statusBar";
import { TailChannel } from "../src/tail";
import { ReportPanels } from "../src/webview/panel";
import {
  FAILING_ID,
  FAILING_SHORT,
  failingLine,
  failures,
  incidentReplay,
  jobLine,
  replayStillFailing,
  saved,
  tail,
  trace,
  why,
} from "./fixtures";
import { ScriptedServer, pickLabel, vscode } from "./helpers";

function make(answers: ConstructorParameters<typeof ScriptedServer>[0] = {}) {
  const server = new ScriptedServer({
    "flux.tail": () => tail,
    "flux.failures": () => failures,
    "flux.trace": () => trace,
    "flux.why": () => why,
    "flux.incidentReplay": () => incidentReplay,
    "flux.replay": () => replayStillFailing,
    "flux.saveRegressionTest": () => saved,
    ...answers,
  });
  const panels = new ReportPanels();
  const tailChannel = new TailChannel(server, 60_000);
  const commands = new FluxCommands(server, panels, tailChannel);
  commands.register();
  return { server, panels, tail: tailChannel, commands };
}

/** How many spans the failing webhook's trace recorded. */
function spanCount(): number {
  const count = (node: { children: readonly any[] }): number => 1 + node.children.map(count).reduce((a, b) => a + b, 0);
  return count(trace.report.tree!);
}

beforeEach(() => vscode.reset());

test("Show Trace: a recent failure from the quick pick opens the report panel", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.showTrace);
  const pick = vscode.log.quickPicks[0];
  assert.equal(pick.items.length, failures.report.lines.length + 1, "the server's failures and the enter-an-id entry");
  assert.equal(pick.items.at(-1).label, ENTER_ID);
  assert.equal(pick.items[0].description, `${FAILING_SHORT} · ${failingLine.time} · ${failingLine.duration}`);
  assert.equal(pick.items[0].detail, failingLine.error?.message);
  assert.deepEqual(server.calls[0], { command: "flux.failures", arg: {}, token: undefined }, "the server picks the window");
  const commands = server.calls.slice(1).map((c) => [c.command, c.arg]);
  assert.deepEqual(commands.sort(), [["flux.trace", { id: FAILING_ID }], ["flux.why", { id: FAILING_ID }]]);
  assert.equal(vscode.log.panels.length, 1);
  const panel = vscode.log.panels[0];
  assert.equal(panel.title, `Flux ${FAILING_SHORT}`);
  assert.equal(panel.options.enableScripts, false);
  assert.equal((panel.webview.html.match(/class="span-bar"/g) ?? []).length, spanCount());
  assert.match(panel.webview.html, /ROOT CAUSE/);
  assert.match(panel.webview.html, /vscode-webview:\/\/test/, "CSP names the webview source");
});

test("Why: entering an id normalises it", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(ENTER_ID));
  vscode.answers.inputBox.push(FAILING_SHORT.toUpperCase());
  await vscode.commands.executeCommand(PALETTE.why);
  assert.ok(server.calls.some((c) => c.command === "flux.why" && c.arg.id === FAILING_ID.slice(0, 8)));
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
  assert.deepEqual(server.calls.map((c) => c.command), ["flux.failures"]);
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

test("Replay Incident: last 15 minutes runs with progress and ends with the server's verdict", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.last15));
  vscode.answers.message.push("Show Details");
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  const labels = vscode.log.quickPicks[0].items.map((i: { label: string }) => i.label);
  assert.deepEqual(labels, Object.values(WINDOW_CHOICES));
  const call = server.calls.find((c) => c.command === "flux.incidentReplay")!;
  assert.deepEqual(call.arg, { window: "-15m..now" });
  assert.equal(vscode.log.progress.length, 1);
  assert.equal(incidentReplay.report.ok, true);
  const info = vscode.log.messages.find((m) => m.level === "info")!;
  assert.equal(info.text, `Flux: ${incidentReplay.report.verdict_line}`);
  assert.match(info.text, /✔ incident resolved$/);
  await new Promise((r) => setImmediate(r));
  const output = vscode.log.outputs.get("Flux Replay")!;
  assert.equal(output.lines[0], incidentReplay.markdown.trim());
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
  // The failure stays selected: the next "around" names it and asks no more.
  vscode.answers.quickPick.push(pickLabel(WINDOW_CHOICES.around));
  await vscode.commands.executeCommand(PALETTE.replayIncident);
  assert.equal(vscode.log.quickPicks.at(-1)!.items[2].description, FAILING_SHORT);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID });
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
      throw Object.assign(new Error("replay cancelled"), { code: REQUEST_CANCELLED });
    },
  });
  await vscode.commands.executeCommand(PALETTE.replayRequest, FAILING_SHORT);
  assert.deepEqual(vscode.log.messages.map((m) => m.text), ["Flux: replay cancelled."]);
});

test("Replay: a failure is told by the server's error code, not its words", async () => {
  make({
    "flux.replay": () => {
      throw Object.assign(new Error("flux.replay: function cancel_order no longer exists"), { code: -32803 });
    },
  });
  await vscode.commands.executeCommand(PALETTE.replayRequest, FAILING_SHORT);
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [
    ["error", "Flux: replay failed: flux.replay: function cancel_order no longer exists"],
  ]);
});

test("Replay Request: a verdict the server says is not ok is a warning", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.replayRequest);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID });
  assert.equal(replayStillFailing.report.ok, false);
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [
    ["warning", `Flux: ${replayStillFailing.report.verdict_line}`],
  ]);
  assert.match(vscode.log.messages[0].text, /1 still failing {2}✗ not resolved$/);
});

test("code actions and code lenses from the server are shown like the palette's (middleware)", async () => {
  const { server, commands } = make();
  const executeCommand = commands.middleware().executeCommand!;
  let passedThrough = 0;
  const next = async (): Promise<void> => {
    passedThrough++;
  };
  // Code action "Flux: Why req:…": its {id, uri} reaches the server, the panel opens.
  await executeCommand("flux.why", [{ id: FAILING_SHORT, uri: "file:///p/functions/stripe_webhook.py" }], next);
  assert.equal(passedThrough, 0);
  assert.equal(vscode.log.panels.length, 1);
  assert.deepEqual(server.calls.find((c) => c.command === "flux.trace")!.arg, {
    id: FAILING_ID.slice(0, 8),
    uri: "file:///p/functions/stripe_webhook.py",
  });
  // Code lens "flux.tail" for one function: a quick pick of its executions.
  vscode.answers.quickPick.push(pickLabel(jobLine.target));
  await executeCommand("flux.tail", [{ function: jobLine.function, uri: "file:///p/x.py" }], next);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: recent executions");
  assert.deepEqual(server.calls.find((c) => c.command === "flux.tail")!.arg, { function: jobLine.function, uri: "file:///p/x.py" });
  assert.ok(server.calls.some((c) => c.command === "flux.why" && c.arg.id === jobLine.id));
  // Code action "Replay incident": the server's argument goes through unchanged.
  await executeCommand("flux.incidentReplay", [{ id: FAILING_ID, uri: "file:///p/x.py" }], next);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID, uri: "file:///p/x.py" });
  // Anything else is the client's default.
  await executeCommand("flux.traceDiff", [{ a: "1", b: "2" }], next);
  assert.equal(passedThrough, 1);
});

test("Save as Regression Test: from the palette (a picked failure) and from a report panel's title bar", async () => {
  const { server } = make();
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(PALETTE.saveRegressionTest);
  assert.equal(vscode.log.quickPicks[0].options.title, "Flux: Save as Regression Test…");
  assert.deepEqual(server.calls.at(-1), { command: "flux.saveRegressionTest", arg: { id: FAILING_ID }, token: undefined });
  assert.deepEqual(vscode.log.messages.at(-1), {
    level: "info",
    text: `Flux: ${saved.report.summary}`,
    buttons: [],
  });
  assert.equal(saved.report.summary, `Saved ${saved.report.path} — run it with: flux test ${saved.report.path}`);

  // The title-bar button of a trace report saves that report's execution, without a pick.
  await vscode.commands.executeCommand(PALETTE.showTrace, "req:deadbeef");
  const picks = vscode.log.quickPicks.length;
  await vscode.commands.executeCommand(PALETTE.saveRegressionTest);
  assert.equal(vscode.log.quickPicks.length, picks);
  assert.deepEqual(server.calls.at(-1)!.arg, { id: FAILING_ID });
});

test("the server's Save as regression test code action is run and reported like the palette's", async () => {
  const { server, commands } = make();
  const next = async (): Promise<void> => assert.fail("handled by the extension");
  const arg = { id: FAILING_ID, uri: "file:///p/functions/stripe_webhook.py" };
  await commands.middleware().executeCommand!("flux.saveRegressionTest", [arg], next);
  assert.deepEqual(server.calls.at(-1)!.arg, arg);
  assert.equal(vscode.log.messages.at(-1)!.text, `Flux: ${saved.report.summary}`);
});

test("status bar shows the server's count, label and tooltip, and opens the quick pick of its failures", async () => {
  const { server } = make();
  const status = new FailureStatus(server as never, 60_000);
  await status.refresh();
  assert.deepEqual(server.calls.map((c) => [c.command, c.arg]), [["flux.failures", {}]]);
  assert.equal(status.count, failures.report.count);
  assert.equal(status.item.text, `$(error) ${failures.report.label}`);
  assert.equal(status.item.tooltip, failures.report.tooltip);
  assert.ok(status.item.backgroundColor, "failing: the error background");
  assert.equal(status.item.command, PALETTE.showFailures);
  vscode.answers.quickPick.push(pickLabel("POST /stripe_webhook"));
  await vscode.commands.executeCommand(status.item.command!);
  assert.equal(vscode.log.quickPicks[0].options.title, failures.report.title);
  assert.ok(server.calls.some((c) => c.command === "flux.trace" && c.arg.id === FAILING_ID));
  status.dispose();
});

test("status bar in the server's clear state; Show Failures then says the server's words", async () => {
  const clear = { ...failures.report, lines: [], count: 0, state: "clear", label: "Flux", tooltip: "none failed (server's words)", empty: "nothing (server's words)" };
  const { server } = make({ "flux.failures": () => ({ ...failures, report: clear }) });
  const status = new FailureStatus(server as never, 60_000);
  await status.refresh();
  assert.equal(status.item.text, "$(check) Flux");
  assert.equal(status.item.tooltip, "none failed (server's words)");
  assert.equal(status.item.backgroundColor, undefined);
  await vscode.commands.executeCommand(PALETTE.showFailures);
  assert.deepEqual(vscode.log.messages.map((m) => [m.level, m.text]), [["info", "nothing (server's words)"]]);
  assert.equal(vscode.log.quickPicks.length, 0);
  status.dispose();
});

test("status bar with a server error says so in its tooltip", async () => {
  const server = new ScriptedServer({});
  const status = new FailureStatus(server as never, 60_000);
  await status.refresh();
  assert.equal(status.item.text, "$(warning) Flux");
  assert.match(String(status.item.tooltip), /unexpected server command flux.failures/);
  status.dispose();
});

/** `flux tail`'s line for a row, from the fields the server sends. */
function tailText(row: TailLine): string {
  return `  ${row.target}  ${row.status}  ${row.duration}  ${row.short_id}  ${row.time}`;
}

test("Tail follows the server's cursor and prints what the server sends, in flux tail's lines", async () => {
  const { server, tail: channel } = make({
    "flux.tail": (arg) => (arg.cursor ? { ...tail, report: { lines: [], cursor: arg.cursor } } : tail),
  });
  await vscode.commands.executeCommand(PALETTE.tail);
  assert.deepEqual(server.calls[0].arg, { limit: 20, follow: true });
  const lines = vscode.log.outputs.get("Flux Tail")!.lines.slice(1);
  const expected = tail.report.lines.flatMap((row) => {
    const more = row.error ? [`     └─ Error: ${row.error.message}`] : row.changes.map((change) => `     ${change}`);
    return [tailText(row), ...more, ...(more.length > 0 ? [""] : [])];
  });
  assert.ok(tail.report.lines.some((row) => !row.error && row.changes.length > 0), "rows with data changes are printed too");
  assert.deepEqual(lines, expected);
  assert.ok(lines.includes(tailText(failingLine)));
  await channel.poll();
  assert.deepEqual(server.calls.at(-1)!.arg, { cursor: tail.report.cursor }, "later looks pass the cursor");
  assert.equal(vscode.log.outputs.get("Flux Tail")!.lines.length, expected.length + 1, "the server sent nothing new");
  channel.stop();
});

test("a client error is a warning in the pick and a ← line in the tail, as flux tail prints it", () => {
  const error = { type: "NotFound", message: "no such user", location: null };
  const row: TailLine = { ...failingLine, status: "404", outcome: "client_error", error, error_marker: "←" };
  assert.equal(executionItem(row).label, `$(warning) ${row.target}  404`);
  const channel = new TailChannel(new ScriptedServer({}), 60_000);
  channel.print([row]);
  assert.deepEqual(vscode.log.outputs.get("Flux Tail")!.lines, [tailText(row), "     ← Error: no such user", ""]);
  channel.dispose();
});
