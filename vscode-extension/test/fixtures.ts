/** Server answers shaped like the Flux language server's, for the unit tests. */

import type { CommandResult, Json, ReplayReport, TailLine, TraceReport, WhyReport } from "../src/protocol";

export const FAILING_ID = "7c8d9e0f12345678";
export const OK_ID = "1a2b3c4d87654321";

const ROW_NOT_FOUND = "Row not found: subscriptions WHERE customer_id = 'cus_ABC'";

/** The failing webhook's `TraceReport`, as the server sends it (less `steps`). The fixtures are
 * checked against the types generated from the server's reports: a renamed field fails tsc. */
export const failingTrace = {
  id: FAILING_ID,
  short_id: "req:7c8d9e0f",
  kind: "http",
  function: "stripe_webhook",
  target: "POST /stripe_webhook",
  status: "500",
  outcome: "failed",
  duration_ms: 32,
  started_at: 1_795_000_000,
  started_at_iso: "2026-11-18T11:06:40.000+00:00",
  error: { type: "RowNotFound", message: ROW_NOT_FOUND, location: "stripe_webhook.py:12" },
  duration: "32ms",
  time: "11:06:40",
  failing_span_id: 3,
  tree: {
    span_id: 1, name: "gateway", label: "gateway", depth: 0, start_ms: 0, duration_ms: 32, status: "error", result: "", input: "POST /stripe_webhook", output: null, error: "RowNotFound", file: null, line: null, location: null, duration: "32ms", attributes: {},
    children: [
      {
        span_id: 2, name: "function", label: "stripe_webhook", depth: 1, start_ms: 2, duration_ms: 28, status: "error", result: `✗ ${ROW_NOT_FOUND}`, input: { customer_id: "cus_ABC", amount: 4900 }, output: null, error: ROW_NOT_FOUND, file: "functions/stripe_webhook.py", line: 7, location: "stripe_webhook.py:7", duration: "28ms", attributes: { "code.function.name": "stripe_webhook" },
        children: [
          { span_id: 3, name: "db.update", label: "db.update(subscriptions)", depth: 2, start_ms: 4, duration_ms: 3, status: "error", result: `✗ ${ROW_NOT_FOUND}`, input: { where: { customer_id: "cus_ABC" } }, output: { rows_affected: 0 }, error: ROW_NOT_FOUND, file: "functions/stripe_webhook.py", line: 12, location: "stripe_webhook.py:12", duration: "3ms", attributes: { "db.collection.name": "subscriptions" }, children: [] },
          { span_id: 4, name: "email.send", label: "email.send", depth: 2, start_ms: 30, duration_ms: 0, status: "skipped", result: "skipped", input: null, output: null, error: null, file: "functions/stripe_webhook.py", line: 17, location: "stripe_webhook.py:17", duration: "0.0ms", attributes: {}, children: [] },
        ],
      },
    ],
  },
} satisfies Partial<TraceReport>;

export const traceResult: CommandResult = {
  kind: "trace",
  execution_id: FAILING_ID,
  report: failingTrace as unknown as Json,
  markdown: "gateway 32ms",
};

/** The failing webhook's `WhyReport`: the renderer shows its `sections`, worded by the server. */
const failingWhy = {
  id: FAILING_ID,
  short_id: "req:7c8d9e0f",
  function: "stripe_webhook",
  status: "500",
  sections: [
    { key: "root_cause", label: "ROOT CAUSE", lines: [ROW_NOT_FOUND] },
    { key: "location", label: "LOCATION", lines: ["stripe_webhook.py:12   await ctx.db.update("] },
    { key: "input", label: "INPUT", lines: ["Stripe event: payment_intent.succeeded", "customer_id: cus_ABC  amount: 4900"] },
    { key: "data_changes", label: "DATA CHANGES", lines: ["subscriptions  UPDATE  0 rows affected"] },
    { key: "suggestion", label: "SUGGESTION", lines: ["→ Customer row does not exist at webhook time <script>alert(1)</script>"] },
  ],
} satisfies Partial<WhyReport>;

export const whyResult: CommandResult = {
  kind: "why",
  execution_id: FAILING_ID,
  report: failingWhy as unknown as Json,
  markdown: "**ROOT CAUSE** Row not found",
};

/** `flux.tail`'s answer: `TailLine` rows (the server sends them oldest first; these are not). */
const tailLines = [
  { id: FAILING_ID, short_id: "req:7c8d9e0f", kind: "http", function: "stripe_webhook", method: "POST", path: "/stripe_webhook", target: "POST /stripe_webhook", status: "500", outcome: "failed", duration_ms: 32, started_at: 1_795_000_000, time: "11:06:40", started_at_iso: "2026-11-18T11:06:40.000+00:00", error: { type: "RowNotFound", message: ROW_NOT_FOUND, location: "stripe_webhook.py:12" }, changes: [], code_version: "2514c17b8036" },
  { id: "9999999900000000", short_id: "req:99999999", kind: "replay", function: "stripe_webhook", method: "POST", path: "/stripe_webhook", target: "POST /stripe_webhook", status: "500", outcome: "failed", duration_ms: 30, started_at: 1_795_000_200, time: "11:10:00", started_at_iso: "2026-11-18T11:10:00.000+00:00", error: null, changes: [], code_version: "2514c17b8036" },
  { id: "2b3c4d5e00000000", short_id: "req:2b3c4d5e", kind: "job", function: "send_onboarding_email", method: "", path: "", target: "JOB  send_onboarding_email", status: "failed", outcome: "failed", duration_ms: 220, started_at: 1_795_000_100, time: "11:08:20", started_at_iso: "2026-11-18T11:08:20.000+00:00", error: { type: "LookupError", message: "User 9 not found", location: null }, changes: [], code_version: "2514c17b8036" },
] satisfies Partial<TailLine>[];

export const tailResult = {
  kind: "tail",
  execution_id: null,
  report: { lines: tailLines, cursor: "cursor-1" },
  markdown: "",
};

export const replayResult: CommandResult = {
  kind: "incident_replay",
  execution_id: null,
  report: {
    ok: true,
    summary: { replayed: 7, passing: 7, fixed: 1, still_failing: 0, now_failing: 0, no_recorded_response: 0, function_missing: 0, webhooks: 7, failing: 0 },
    verdict: "✔ incident resolved",
    verdict_line: "7 replayed · 7 passing · 0 still failing  ✔ incident resolved",
  } satisfies Partial<ReplayReport>,
  markdown: "**Flux: Replaying 7 requests…**\n\n- ✔ `req:7c8d9e0f` POST /stripe_webhook 200 51ms  ← was 500\n\n7 replayed · 7 passing · 0 still failing  **✔ incident resolved**",
};
