/** Server answers shaped like the Flux language server's, for the unit tests. */

import type { CommandResult, ExecutionJson } from "../src/protocol";

export const FAILING_ID = "7c8d9e0f12345678";
export const OK_ID = "1a2b3c4d87654321";

export const failingExecution: ExecutionJson = {
  id: FAILING_ID,
  kind: "http",
  function: "stripe_webhook",
  method: "POST",
  path: "/stripe_webhook",
  status: "500",
  started_at: 1_795_000_000,
  duration_ms: 32,
  request: { body: { type: "payment_intent.succeeded" } },
  response: { status: 500 },
  error: {
    type: "RowNotFound",
    message: "Row not found: subscriptions WHERE customer_id = 'cus_ABC'",
    location: { file: "functions/stripe_webhook.py", line: 12 },
  },
  spans: [
    { id: 1, name: "gateway", parent: null, start_ms: 0, duration_ms: 32, status: "error", attributes: {}, input: "POST /stripe_webhook", output: null, error: "RowNotFound", file: null, line: null },
    { id: 2, name: "function", parent: 1, start_ms: 2, duration_ms: 28, status: "error", attributes: { "code.function.name": "stripe_webhook" }, input: { customer_id: "cus_ABC", amount: 4900 }, output: null, error: "Row not found: subscriptions WHERE customer_id = 'cus_ABC'", file: "functions/stripe_webhook.py", line: 7 },
    { id: 4, name: "email.send", parent: 2, start_ms: 30, duration_ms: 0, status: "skipped", attributes: {}, input: null, output: null, error: null, file: "functions/stripe_webhook.py", line: 17 },
    { id: 3, name: "db.update", parent: 2, start_ms: 4, duration_ms: 3, status: "error", attributes: { "db.collection.name": "subscriptions" }, input: { where: { customer_id: "cus_ABC" } }, output: { rows_affected: 0 }, error: "Row not found: subscriptions WHERE customer_id = 'cus_ABC'", file: "functions/stripe_webhook.py", line: 12 },
  ],
  mutations: [],
};

export const traceResult: CommandResult = {
  kind: "trace",
  execution_id: FAILING_ID,
  report: {},
  markdown: "gateway 32ms",
  execution: failingExecution,
};

export const whyResult: CommandResult = {
  kind: "why",
  execution_id: FAILING_ID,
  report: {
    id: FAILING_ID,
    short_id: "req:7c8d9e0f",
    function: "stripe_webhook",
    status: "500",
    root_cause: { rule: "row_not_found", summary: "Row not found: subscriptions WHERE customer_id = 'cus_ABC'", error_type: "RowNotFound", details: [] },
    location: { label: "stripe_webhook.py:12", file: "functions/stripe_webhook.py", line: 12, source_line: "        await ctx.db.update(" },
    input: { kind: "stripe", heading: "Stripe event: payment_intent.succeeded", fields: [{ name: "customer_id", value: "cus_ABC", note: null }, { name: "amount", value: 4900, note: null }], missing: [], text: "" },
    data_changes: [{ table: "subscriptions", op: "UPDATE", rows_affected: 0, text: "subscriptions  UPDATE  0 rows affected" }],
    related: [],
    suggestions: ["Customer row does not exist at webhook time <script>alert(1)</script>"],
  },
  markdown: "**ROOT CAUSE** Row not found",
};

export const tailResult = {
  kind: "tail",
  execution_id: null,
  report: {
    lines: [
      { id: FAILING_ID, kind: "http", function: "stripe_webhook", method: "POST", path: "/stripe_webhook", status: "500", started_at: 1_795_000_000, duration_ms: 32, error: { type: "RowNotFound", message: "Row not found: subscriptions WHERE customer_id = 'cus_ABC'" } },
      { id: "9999999900000000", kind: "replay", function: "stripe_webhook", method: "POST", path: "/stripe_webhook", status: "500", started_at: 1_795_000_200, duration_ms: 30, error: null },
      { id: "2b3c4d5e00000000", kind: "job", function: "send_onboarding_email", method: "", path: "", status: "failed", started_at: 1_795_000_100, duration_ms: 220, error: "User 9 not found" },
    ],
  },
  markdown: "",
};

export const replayResult: CommandResult = {
  kind: "incident_replay",
  execution_id: null,
  report: { ok: true, summary: { replayed: 7, passing: 7, still_failing: 0 }, verdict: "✔ incident resolved" },
  markdown: "**Flux: Replaying 7 requests…**\n\n- ✔ `req:7c8d9e0f` POST /stripe_webhook 200 51ms  ← was 500\n\n7 replayed · 7 passing · 0 still failing  **✔ incident resolved**",
};
