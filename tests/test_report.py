"""report.py: one base renders every report as a text table and as themed HTML."""

from dataclasses import dataclass, field

from handler_kit import style
from handler_kit.report import Column, Report, Status, count, duration, name_of, shorten, text_table


@dataclass(repr=False)
class Tally(Report):
    """A report of the smallest kind: a name, a status and a note per row."""

    rows: list[tuple[str, Status, str]] = field(default_factory=list)

    columns = (Column("name"), Column("status", minimum=7), Column("note", wrap=True))

    @property
    def ok(self) -> bool:
        return all(status is Status.PASS for _, status, _ in self.rows)

    @property
    def verdict(self) -> str:
        return "all good" if self.ok else "not good"

    def heading(self) -> str:
        return "Tally of <things>"

    def notes(self) -> list[str]:
        return ["counted by hand"]

    def cells(self, row: tuple[str, Status, str]) -> tuple[str, Status, str]:
        return row


def test_a_report_reads_as_heading_notes_table_and_verdict():
    report = Tally([("a", Status.PASS, "fine"), ("longer", Status.WARN, "first\nsecond")])
    assert repr(report) == str(report)
    assert str(report).splitlines() == [
        "Tally of <things>",
        "counted by hand",
        "name    status   note",
        "a       pass     fine",
        "longer  warn     first",
        "                 second",
        "not good",  # a warning is not a pass here
    ]


def test_its_html_escapes_text_and_shows_each_status_in_its_colour():
    report = Tally([("<a>", Status.PASS, "x & y"), ("b", Status.FAIL, "")])
    page = report._repr_html_()
    assert "<b>Tally of &lt;things&gt;</b>" in page and "&lt;a&gt;" in page and "x &amp; y" in page
    assert f'<b style="color:{style.OK}">pass</b>' in page
    assert f'<b style="color:{style.ERROR}">fail</b>' in page
    assert f'<b style="color:{style.ERROR}">not good</b>' in page  # the verdict, as it is
    assert f'<div style="color:{style.MUTED}">counted by hand</div>' in page
    assert "white-space:pre-wrap" in page  # the free-text column keeps its lines


def test_a_status_is_its_word_wherever_it_is_written():
    assert Status("differs") is Status.DIFFERS
    assert str(Status.WARN) == f"{Status.WARN}" == "warn" == Status.WARN
    assert {status.colour for status in Status} <= {style.OK, style.ERROR, style.WARN, style.MUTED}


def test_counts_and_durations_read_as_a_person_writes_them():
    assert (count(1, "case"), count(0, "case"), count(3, "check")) == (
        "1 case",
        "0 cases",
        "3 checks",
    )
    assert (duration(2.5), duration(0.0123), duration(0.00004)) == ("2.50 s", "12.3 ms", "0.040 ms")


def test_a_long_text_is_shortened_to_its_limit_or_says_how_much_more_there_was():
    assert shorten("short", 5) == "short"
    assert shorten("a long sentence", 8) == "a long…"  # at most 8, no space before the ellipsis
    assert len(shorten("x" * 100, 80)) == 80
    assert shorten("x" * 12, 10, say_more=True) == "x" * 10 + "… (2 more characters)"


def test_a_text_table_pads_its_columns_and_indents_the_last_ones_later_lines():
    lines = text_table(
        ("case", "result", "time", "detail"),
        [("a", "pass", "1 ms", "fine"), ("longer", "differs", "12.5 ms", "first\nsecond")],
        minimum=(0, 0, 9),
        right={2},
    )
    assert lines == [
        "case    result        time  detail",
        "a       pass          1 ms  fine",
        "longer  differs    12.5 ms  first",
        "                            second",
    ]
    ruled = text_table(("label", "score"), [("joy", "0.9"), ("sadness", "0.05")], rule=True)
    assert ruled == ["label    score", "-------  -----", "joy      0.9", "sadness  0.05"]


def test_a_message_names_an_object_by_its_qualified_name():
    class Handler:
        def call(self):
            pass

    assert name_of(Handler.call).endswith("Handler.call")
    assert name_of(len) == "len"
    assert name_of(3) == "3"
