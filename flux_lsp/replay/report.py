"""The result of a replay: one outcome per re-run execution, and the verdict over them all.

`encode.to_json(report)` is a stable JSON contract: `flux incident replay --json` prints it and
the language server shows the same report; `report_from_json` reads it back (a `flux serve`
server streams its replays to the CLI, which renders them as its own). The CLI and the editor
only render what is here;
the verdict (which executions are fixed, which still fail, whether the incident is resolved)
is decided in this module.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from flux_lsp.model import Execution, from_fields, request_label, short_id
from flux_lsp.runtime.http_client import UNMATCHED_ATTRIBUTE
from flux_lsp.runtime.stripe import VERIFY_SPAN

if TYPE_CHECKING:
    from flux_lsp.replay.sandbox import SandboxStats

FIXED = "fixed"
"""Failed when recorded, passes now."""
PASSING = "passing"
"""Passed when recorded and passes now."""
STILL_FAILING = "still_failing"
"""Failed when recorded and fails now."""
NOW_FAILING = "now_failing"
"""Passed when recorded, fails now: a regression."""
NO_RECORDED_RESPONSE = "no_recorded_response"
"""The handler made an outbound HTTP call the recording does not hold."""
FUNCTION_MISSING = "function_missing"
"""The recorded execution's function no longer exists in the code replayed against."""

PASSING_OUTCOMES = (FIXED, PASSING)
SIDE_EFFECTS = ("email off", "webhooks stubbed")


@dataclass(slots=True)
class EnqueuedJob:
    """A job a replayed execution enqueued (listed; run only when its recording is replayed)."""

    function: str
    job_id: str | None = None


@dataclass(slots=True)
class ReplayOutcome:
    """How one recorded execution fared when run again."""

    original_id: str
    function: str
    kind: str
    """`http` or `job`: the kind of the original."""
    method: str
    path: str
    outcome: str
    was_status: str
    status: str | None = None
    """The replay's status; None when it could not run (function missing)."""
    duration_ms: float | None = None
    was_duration_ms: float = 0.0
    replay_id: str | None = None
    event_type: str | None = None
    """The Stripe event type, for webhook requests."""
    error: str | None = None
    """The replay's error message (None when it passed)."""
    error_type: str | None = None
    was_error: str | None = None
    enqueued: list[EnqueuedJob] = field(default_factory=list)
    unanswered: str | None = None
    """The first outbound call the recording held no response for (`GET https://...`)."""

    derived: ClassVar[tuple[str, ...]] = ("short_id", "label", "passed", "changed", "detail")

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING_OUTCOMES

    @property
    def changed(self) -> bool:
        """Whether the status differs from the recording (`← was 500`)."""
        return self.status is not None and self.status != self.was_status

    @property
    def short_id(self) -> str:
        return short_id(self.original_id)

    @property
    def label(self) -> str:
        """`POST /stripe_webhook`, or `JOB send_onboarding_email`."""
        return request_label(self.kind, self.function, self.method, self.path)

    def line_label(self, webhooks_only: bool = False) -> str:
        """What a report line names: the event type in an all-webhook replay, else the request."""
        if webhooks_only and self.event_type:
            return self.event_type
        return self.label

    @property
    def detail(self) -> str | None:
        """The sub-line under a non-passing outcome: `Still failing: ...` and its kin."""
        if self.outcome == STILL_FAILING:
            return f"Still failing: {self.error}"
        if self.outcome == NOW_FAILING:
            return f"Now failing (was {self.was_status}): {self.error}"
        if self.outcome == NO_RECORDED_RESPONSE:
            return f"No recorded response for {self.unanswered or 'an outbound call'}"
        if self.outcome == FUNCTION_MISSING:
            return f"Function no longer exists: {self.function}"
        return None


def event_type_of(execution: Execution) -> str | None:
    """The Stripe event type of a webhook execution, from its verify span or its body."""
    for span in execution.spans:
        if span.name == VERIFY_SPAN:
            value = span.attributes.get("stripe.event.type")
            if isinstance(value, str) and value:
                return value
    return None


def _unanswered(execution: Execution) -> str | None:
    """The outbound call a replay found no recorded response for, if any."""
    for span in execution.spans:
        if span.attributes.get(UNMATCHED_ATTRIBUTE):
            call = span.input if isinstance(span.input, dict) else {}
            return f"{call.get('method', '?')} {call.get('url', '?')}"
    return None


def _enqueued(execution: Execution) -> list[EnqueuedJob]:
    jobs = []
    for span in execution.spans:
        if span.name == "queue.enqueue" and span.status == "ok":
            name = span.attributes.get("messaging.destination.name")
            job_id = span.attributes.get("messaging.message.id")
            jobs.append(EnqueuedJob(str(name), str(job_id) if job_id else None))
    return jobs


def _outcome(original: Execution, outcome: str, **replayed: Any) -> ReplayOutcome:
    """An outcome for `original`: what was recorded, plus what the replay gave (`replayed`)."""
    return ReplayOutcome(
        original_id=original.id,
        function=original.function,
        kind=original.kind,
        method=original.method,
        path=original.path,
        outcome=outcome,
        was_status=original.status,
        was_duration_ms=original.duration_ms,
        was_error=original.error.message if original.error else None,
        **replayed,
    )


def missing_function(original: Execution) -> ReplayOutcome:
    """The outcome of a recording whose function was deleted since."""
    return _outcome(
        original,
        FUNCTION_MISSING,
        event_type=event_type_of(original),
        error=f"function no longer exists: {original.function}",
    )


def compare(original: Execution, replay: Execution) -> ReplayOutcome:
    """The outcome of re-running `original`, given the replay's record."""
    unanswered = _unanswered(replay)
    if unanswered is not None:
        # Also when the handler caught the error: an unanswered call is never a silent pass.
        outcome = NO_RECORDED_RESPONSE
    elif replay.failed:
        outcome = STILL_FAILING if original.failed else NOW_FAILING
    else:
        outcome = FIXED if original.failed else PASSING
    failure = replay.error if replay.failed else None
    return _outcome(
        original,
        outcome,
        status=replay.status,
        duration_ms=replay.duration_ms,
        replay_id=replay.id,
        event_type=event_type_of(replay) or event_type_of(original),
        error=failure.message if failure else None,
        error_type=failure.type if failure else None,
        enqueued=_enqueued(replay),
        unanswered=unanswered,
    )


def network_used(outcome: ReplayOutcome, attempts: list[str]) -> ReplayOutcome:
    """`outcome`, failing when the re-run tried to reach the network outside `ctx.http` (also
    when the handler caught the refusal: a re-run that needed the network proves nothing)."""
    if not attempts or not outcome.passed:
        return outcome
    outcome.outcome = NOW_FAILING if outcome.outcome == PASSING else STILL_FAILING
    outcome.error = f"made a network call outside ctx.http: {attempts[0]}"
    outcome.error_type = "OutboundConnection"
    return outcome


def _clock(stamp: float, with_date: bool) -> str:
    moment = _dt.datetime.fromtimestamp(stamp)
    text = moment.strftime("%H:%M:%S" if moment.second or moment.microsecond else "%H:%M")
    return f"{moment:%Y-%m-%d} {text}" if with_date else text


def window_label(since: float, until: float) -> str:
    """`09:00–09:20` for a window today; with dates when it lies on other days."""
    today = _dt.date.today()
    start_day = _dt.date.fromtimestamp(since)
    end_day = _dt.date.fromtimestamp(until)
    with_date = start_day != today or end_day != today
    return f"{_clock(since, with_date)}–{_clock(until, with_date and end_day != start_day)}"


@dataclass(slots=True)
class ReplaySummary:
    """Counts over the outcomes, kept as outcomes arrive (the outcomes may be many)."""

    replayed: int = 0
    passing: int = 0
    fixed: int = 0
    still_failing: int = 0
    now_failing: int = 0
    no_recorded_response: int = 0
    function_missing: int = 0
    webhooks: int = 0

    derived: ClassVar[tuple[str, ...]] = ("failing",)

    def add(self, outcome: ReplayOutcome) -> None:
        self.replayed += 1
        if outcome.passed:
            self.passing += 1
        if outcome.event_type:
            self.webhooks += 1
        name = outcome.outcome
        if name in (FIXED, STILL_FAILING, NOW_FAILING, NO_RECORDED_RESPONSE, FUNCTION_MISSING):
            setattr(self, name, getattr(self, name) + 1)

    @property
    def failing(self) -> int:
        """Everything that does not pass: still and newly failing, unverifiable ones."""
        return self.replayed - self.passing


@dataclass(slots=True)
class ReplayWindow:
    """The window replayed (both ends None for one execution's replay)."""

    since: float | None = None
    until: float | None = None

    derived: ClassVar[tuple[str, ...]] = ("label",)

    @property
    def label(self) -> str | None:
        if self.since is None or self.until is None:
            return None
        return window_label(self.since, self.until)


@dataclass(slots=True)
class ReplayReport:
    """A whole replay: what was replayed, each outcome, and the verdict."""

    window: ReplayWindow = field(default_factory=ReplayWindow)
    target: str | None = None
    """For `flux replay <id>`: the id asked for."""
    with_jobs: bool = False
    overlay: list[str] = field(default_factory=list)
    """Files replayed from unsaved editor text instead of disk."""
    code_version: str = ""
    outcomes: list[ReplayOutcome] = field(default_factory=list)
    summary: ReplaySummary = field(default_factory=ReplaySummary)
    redone: int = 0
    """Job runs in the window not re-run (no `with_jobs`) whose recorded writes were re-applied."""
    unreported: int = 0
    """Executions re-run (so the data evolves) but not reported: they do not match the filter."""
    sandbox: SandboxStats | None = None
    cancelled: bool = False

    derived: ClassVar[tuple[str, ...]] = (
        "side_effects",
        "empty",
        "ok",
        "resolved",
        "verdict",
        "summary_line",
        "verdict_line",
    )

    def add(self, outcome: ReplayOutcome, *, keep: bool = True) -> None:
        """Count `outcome`; keep it in `outcomes` if `keep` or if it did not pass."""
        if keep or not outcome.passed:
            self.outcomes.append(outcome)
        self.summary.add(outcome)

    @property
    def empty(self) -> bool:
        return self.summary.replayed == 0

    @property
    def ok(self) -> bool:
        """Nothing still fails (the CLI's exit code 0)."""
        return self.summary.failing == 0 and not self.cancelled

    @property
    def resolved(self) -> bool:
        """Something was replayed, all of it passes, and the replay ran to the end."""
        return self.ok and not self.empty

    @property
    def webhooks_only(self) -> bool:
        return not self.empty and self.summary.webhooks == self.summary.replayed

    @property
    def side_effects(self) -> list[str]:
        return [*SIDE_EFFECTS, "jobs replayed"] if self.with_jobs else list(SIDE_EFFECTS)

    def headline(self, count: int | None = None, webhooks: int | None = None) -> str:
        """`Replaying 7 requests from 09:00–09:20…` (or `… 3 Stripe webhook requests…`).

        `count` and `webhooks` come from a count made before the replay; without them the
        headline describes what was replayed.
        """
        n = self.summary.replayed if count is None else count
        hooks = self.summary.webhooks if webhooks is None else webhooks
        noun = "request" if n == 1 else "requests"
        if self.target is not None:
            return f"Replaying {short_id(self.target)}…"
        if n and hooks == n:
            return f"Replaying {n} Stripe webhook {noun}…"
        window = f" from {self.window.label}" if self.window.label else ""
        return f"Replaying {n} {noun}{window}…"

    @property
    def verdict(self) -> str:
        """`✔ incident resolved`, `✗ 1 still failing` and the like."""
        if self.cancelled:
            return "✗ cancelled"
        if self.empty:
            return "nothing to replay"
        return "✔ incident resolved" if self.resolved else "✗ not resolved"

    @property
    def summary_line(self) -> str:
        """`7 replayed · 7 passing · 0 still failing` and the other counts when not zero."""
        s = self.summary
        parts = [
            f"{s.replayed} replayed",
            f"{s.passing} passing",
            f"{s.still_failing} still failing",
        ]
        if s.now_failing:
            parts.append(f"{s.now_failing} newly failing")
        if s.no_recorded_response:
            parts.append(f"{s.no_recorded_response} with no recorded response")
        if s.function_missing:
            parts.append(f"{s.function_missing} no longer exist")
        return " · ".join(parts)

    @property
    def verdict_line(self) -> str:
        """The one line a replay ends with: `7 replayed · 7 passing · 0 still failing  ✔ incident
        resolved` (or the verdict alone when nothing was replayed)."""
        if self.empty and not self.cancelled:
            return self.verdict
        return f"{self.summary_line}  {self.verdict}"

    @property
    def empty_message(self) -> str:
        if self.target is not None:
            return f"Nothing to replay for {self.target}."
        window = f" from {self.window.label}" if self.window.label else " in that window"
        return f"No recorded requests{window}: nothing to replay."


T = TypeVar("T")


def outcome_from_json(data: Mapping[str, Any]) -> ReplayOutcome:
    """A `ReplayOutcome` from its JSON (`encode.to_json`)."""
    jobs = [from_fields(EnqueuedJob, job) for job in data.get("enqueued") or []]
    return from_fields(ReplayOutcome, data, enqueued=jobs)


def report_from_json(data: Mapping[str, Any]) -> ReplayReport:
    """A `ReplayReport` from its JSON, as a `flux serve` server streams it back."""
    from flux_lsp.replay.sandbox import SandboxStats

    sandbox = data.get("sandbox")
    return from_fields(
        ReplayReport,
        data,
        window=from_fields(ReplayWindow, data.get("window") or {}),
        outcomes=[outcome_from_json(o) for o in data.get("outcomes") or []],
        summary=from_fields(ReplaySummary, data.get("summary") or {}),
        sandbox=from_fields(SandboxStats, sandbox) if sandbox is not None else None,
    )
