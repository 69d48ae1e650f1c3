"""checks/report.py: the check's rows and its report, as text and as escaped HTML."""

import json

from handler_kit import check
from handler_kit.checks.report import CheckName, Row


def test_the_report_reads_as_a_table_and_as_escaped_html(repo):
    repo.write("handler.py", "base.py")
    repo.write("requirements.txt", text="pytest<1\n")
    report = check(repo.path)
    text = str(report)
    assert repr(report) == text
    assert text.splitlines()[0] == f"Deployment check of {repo.path}"
    assert text.splitlines()[1].split() == ["check", "status", "detail"]
    assert text.splitlines()[-1] == "not ready: 1 check failed"
    page = report._repr_html_()
    assert "pytest&lt;1" in page and "pytest<1" not in page
    assert "not ready: 1 check failed" in page


def test_a_row_sent_by_the_worker_as_json_is_named_by_its_check_name():
    sent = json.loads(json.dumps({"check": CheckName.ENTRY, "status": "pass", "detail": "ok"}))
    assert Row(**sent).check is CheckName.ENTRY and str(Row(**sent).check) == "entry"
    assert Row(CheckName.CASE.of("holiday"), "fail", "").check == "case holiday"
