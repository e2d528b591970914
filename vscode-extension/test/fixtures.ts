/**
 * The server's answers the unit tests draw on: the Flux language server's real answers on the
 * seed incident (`test/generated/answers.ts`, written by the build from `flux lsp`, each report
 * typed with the interfaces generated from the report schema). Tests read values from them
 * rather than spelling them out; variations are made from them by changing typed fields.
 */

import type { TailLine } from "../src/protocol";
import { type Answer, failures, ids, incidentReplay, replayStillFailing, saved, tail, trace, why } from "./generated/answers";

export type { Answer };
export { failures, incidentReplay, replayStillFailing, saved, tail, trace, why };

export const FAILING_ID = ids.failing;
export const FAILING_SHORT = `req:${FAILING_ID.slice(0, 8)}`;

/** The failing webhook as `flux.tail` and `flux.failures` list it. */
export const failingLine: TailLine = failures.report.lines[0];

/** A recent line of the tail that is not the failing webhook: a queue job. */
export const jobLine: TailLine = tail.report.lines.find((line) => line.kind === "job")!;

/** `flux.failures` answering `lines` (the server counts and words them; tests only list). */
export function failuresWith(lines: TailLine[]): Answer<typeof failures.report> {
  return { ...failures, report: { ...failures.report, lines } };
}
