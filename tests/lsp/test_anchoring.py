"""Re-anchoring a recorded location in edited text (analysis/anchoring.py), without a server."""

from __future__ import annotations

from flux_lsp.analysis.anchoring import anchor
from flux_lsp.model import Location

SOURCE = """\
async def handler(req, ctx):
    body = await req.json()
    customer_id = body["customer_id"]
    await ctx.db.update(
        "subscriptions",
        {"customer_id": customer_id},
        {"status": "active"},
    )
    return {"ok": True}
"""


def recorded() -> Location:
    lines = SOURCE.splitlines()
    return Location(
        file="functions/pay.py",
        line=4,
        col=4,
        end_line=8,
        end_col=5,
        function="handler",
        source_line=lines[3],
        context=lines[0:7],
        context_start=1,
    )


def test_unchanged_text_is_exact() -> None:
    a = anchor(recorded(), SOURCE.splitlines())
    assert (a.status, a.start_line, a.start_col, a.end_line, a.end_col) == ("exact", 3, 4, 7, 5)


def test_lines_inserted_above_move_the_range() -> None:
    lines = SOURCE.splitlines()
    edited = [*lines[:1], "    # a", "    # b", *lines[1:]]
    a = anchor(recorded(), edited)
    assert (a.status, a.start_line, a.end_line) == ("moved", 5, 9)


def test_reindented_line_shifts_its_columns() -> None:
    edited = ["async def handler(req, ctx):", "  if True:"] + [
        "    " + line for line in SOURCE.splitlines()[1:]
    ]
    a = anchor(recorded(), edited)
    assert a.found and a.start_line == 4 and a.start_col == 8


def test_deleted_line_points_at_the_enclosing_function() -> None:
    lines = [line for line in SOURCE.splitlines() if "ctx.db.update" not in line]
    a = anchor(recorded(), lines)
    assert (a.status, a.start_line, a.start_col, a.end_col) == ("changed", 0, 10, 17)


def test_a_same_looking_line_elsewhere_without_context_is_not_painted() -> None:
    other = ["def unrelated():", "    x = 1", "    y = 2", "    await ctx.db.update(", "    pass"]
    location = recorded()
    location.source_line = "    await ctx.db.update("
    a = anchor(location, ["# moved", *other, *other])
    assert a.status == "changed"


def test_the_recorded_line_wins_over_an_equally_good_copy() -> None:
    lines = SOURCE.splitlines()
    a = anchor(recorded(), [*lines, "", *lines])
    assert a.status == "exact" and a.start_line == 3
