"""checks/in_worker.py: inside the worker, the handler answers each case as production would."""

import io
import json

import numpy as np
from check_support import deploy_repo, handler, line_of, row, run_check
from PIL import Image

from handler_kit import check
from handler_kit.cases.case import Case
from handler_kit.checks.in_worker import unserializable_path
from handler_kit.checks.in_worker import work as _work


def case(repo, name: str, expected_label: str, inputs: str = "a good day") -> None:
    payload = {"payload": {"inputs": inputs}, "expected_label": expected_label}
    repo.write(f"cases/{name}.json", text=json.dumps(payload))


def test_a_package_imported_inside_call_gets_the_same_hint_in_its_case(repo):
    repo.write(
        "handler.py",
        text=handler('__import__("surely_missing_lazy_pkg")'),
    )
    repo.write("requirements.txt", text="surely-missing-lazy-pkg\n")
    default = row(check(repo.path), "case default")
    assert default.status == "fail"
    assert "ModuleNotFoundError: No module named 'surely_missing_lazy_pkg'" in default.detail
    assert "requirements.txt:1 lists surely-missing-lazy-pkg, which is not installed here" in (
        default.detail
    )


def test_a_handler_that_returns_its_own_failure_fails_the_case(tmp_path, capsys):
    repo = deploy_repo(tmp_path, "swallowed_error")
    status, out = run_check(capsys, str(repo))
    assert status == 1
    default = line_of(out, "case default")
    assert " fail " in default
    assert '[{"error":"Inference failed: string indices must be integers' in default
    assert "the handler caught its own failure and returned it" in default
    assert out.splitlines()[-1] == "not ready: 1 check failed"


def test_an_error_dict_fails_the_case_unless_the_case_expects_it(repo):
    repo.write("handler.py", text=handler('{"error": "model not loaded"}'))
    repo.write("cases/plain.json", text=json.dumps({"payload": {"inputs": "hi"}}))
    expected = {"payload": {"inputs": "hi"}, "expected": {"error": "model not loaded"}}
    repo.write("cases/expected.json", text=json.dumps(expected))
    report = check(repo.path)
    plain = row(report, "case plain")
    assert (
        plain.status == "fail" and 'carries an error: {"error":"model not loaded"}' in plain.detail
    )
    assert row(report, "case expected").status == "pass"


def test_each_case_is_a_row_and_a_wrong_label_fails_it(repo, capsys):
    repo.write("handler.py", "base.py")
    case(repo, "good", "positive")
    case(repo, "bad", "negative")
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    assert " pass " in line_of(out, "case good") and " ms: " in line_of(out, "case good")
    bad = line_of(out, "case bad")
    assert " fail " in bad and "label 'positive', expected 'negative'" in bad
    assert "case default" not in out


def test_cases_come_from_the_folder_given(repo, tmp_path, capsys):
    repo.write("handler.py", "base.py")
    case(repo, "in_repo", "negative")  # would fail: not replayed when another folder is given
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.json").write_text(
        json.dumps({"payload": {"inputs": "good"}, "expected_label": "positive"})
    )
    status, out = run_check(capsys, str(repo.path), "--cases", str(elsewhere))
    assert status == 0, out
    assert " pass " in line_of(out, "case other") and "case in_repo" not in out
    status, out = run_check(capsys, str(repo.path), "--cases", str(tmp_path / "missing"))
    assert status == 1
    assert f"no cases folder at {tmp_path / 'missing'}" in line_of(out, "cases")


def test_an_unreadable_case_fails_alone(repo):
    repo.write("handler.py", "base.py")
    repo.write("cases/broken.json", text="{not json")
    case(repo, "good", "positive")
    report = check(repo.path)
    assert row(report, "case broken").status == "fail"
    assert "cannot read the case" in row(report, "case broken").detail
    assert row(report, "case good").status == "pass"


def test_a_bad_case_fails_its_own_row_and_the_later_cases_still_run(repo):
    repo.write(
        "handler.py",
        text=handler('[{"label": "x", "score": None if data["inputs"] == "null" else 0.9}]'),
    )
    cases = {
        "a_missing_file": {"body_file": "cat.png", "content_type": "image/png"},
        "b_bad_score": {"payload": {"inputs": "hi"}, "expected_label": "x", "expected_score": "hi"},
        "c_null_score": {"payload": {"inputs": "null"}, "expected_label": "x"},
        "d_good": {"payload": {"inputs": "hi"}, "expected_label": "x", "expected_score": 0.9},
    }
    for name, content in cases.items():
        repo.write(f"cases/{name}.json", text=json.dumps(content))
    report = check(repo.path)
    missing = row(report, "case a_missing_file")
    assert missing.status == "fail" and "cannot read its body file cat.png" in missing.detail
    assert "Put cat.png next to the case file" in missing.detail
    bad = row(report, "case b_bad_score")
    assert bad.status == "fail" and '`expected_score` must be a number, not "hi"' in bad.detail
    null = row(report, "case c_null_score")
    assert null.status == "fail" and 'the score of label "x" is not a number: null' in null.detail
    assert row(report, "case d_good").status == "pass"


def test_any_exception_in_a_case_fails_that_case_only(repo, monkeypatch):
    repo.write("handler.py", "base.py")
    case(repo, "a_boom", "positive")
    case(repo, "b_good", "positive")
    real = Case.data

    def data(self):
        if self.name == "a_boom":
            raise RuntimeError("something unforeseen")
        return real(self)

    monkeypatch.setattr(Case, "data", data)
    out = io.StringIO()
    _work(repo.path, None, out)
    rows = [json.loads(line)["row"] for line in out.getvalue().splitlines() if '"row"' in line]
    found = {r["check"]: r for r in rows}
    assert found["case a_boom"]["status"] == "fail"
    assert found["case a_boom"]["detail"] == (
        "the case could not be run: RuntimeError: something unforeseen"
    )
    assert found["case b_good"]["status"] == "pass"


def test_a_wrong_exact_answer_is_named_in_its_row(repo):
    repo.write("handler.py", "base.py")
    content = {"payload": {"inputs": "good"}, "expected": [{"label": "positive", "score": 0.5}]}
    repo.write("cases/exact.json", text=json.dumps(content))
    exact = row(check(repo.path), "case exact")
    assert exact.status == "fail"
    assert "case exact: the answer differs from `expected`" in exact.detail
    assert 'expected [{"label": "positive", "score": 0.5}]' in exact.detail
    assert 'got [{"label": "positive", "score": 1.0}]' in exact.detail


def test_a_score_outside_the_tolerance_is_named_in_its_row(repo):
    repo.write("handler.py", "base.py")
    content = {
        "payload": {"inputs": "good"},
        "expected_label": "positive",
        "expected_score": 0.9,
        "tolerance": 0.05,
    }
    repo.write("cases/near.json", text=json.dumps(content))
    near = row(check(repo.path), "case near")
    assert near.status == "fail"
    assert "case near: score 1.0000 is not within 0.05 of 0.9" in near.detail


def image_case(folder) -> None:
    """A case sending a small PNG as production's image/png body."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 4)).save(folder / "cat.png")
    content = {"body_file": "cat.png", "content_type": "image/png", "expected_label": "RGB 8x4"}
    (folder / "cat.json").write_text(json.dumps(content))


def test_a_body_file_case_is_sent_as_production_decodes_it(repo):
    repo.write("handler.py", "image_handler.py")
    image_case(repo.path / "cases")
    cat = row(check(repo.path), "case cat")
    assert cat.status == "pass", cat.detail
    assert '"label":"RGB 8x4"' in cat.detail


def test_a_failing_default_payload_says_what_was_sent_and_what_to_do(repo):
    repo.write("handler.py", text=handler('{"label": data["text"]}'))
    default = row(check(repo.path), "case default")
    assert default.status == "fail"
    first, second = default.detail.splitlines()
    assert first.endswith("KeyError: 'text' (in __call__; production answers HTTP 400)")
    assert second.startswith(
        'sent the default payload {"inputs": "I am quite excited how this will turn out"} '
        "because there are no case files; add a case in cases/ with a payload your handler takes"
    )


def test_an_answer_holding_a_tensor_is_named_with_its_path(repo, capsys):
    repo.write(
        "handler.py",
        text=handler('[{"label": "joy", "score": torch.tensor(0.9)}]', "import torch\n\n"),
    )
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    default = line_of(out, "case default")
    assert ' fail    [0]["score"]: torch.Tensor cannot be turned into JSON' in default


def test_an_exception_in_call_fails_the_case_with_the_users_line(repo, capsys):
    repo.write("handler.py", text=handler('{"label": data["missing"]}'))  # line 6
    status, out = run_check(capsys, str(repo.path))
    assert status == 1
    default = line_of(out, "case default")
    assert f" fail    {repo.path / 'handler.py'}:6: KeyError: 'missing'" in default


def test_unserializable_path_names_the_first_value_production_cannot_serialise():
    class Thing:
        pass

    assert unserializable_path([{"score": np.float32(0.5), "ids": np.arange(3)}]) is None
    assert unserializable_path({"a": (1, "x"), "b": [None, True]}) is None
    assert unserializable_path([{"ok": 1}, {"x": [2, Thing()]}]) == (
        f'[1]["x"][1]: {Thing.__module__}.{Thing.__qualname__}'
    )
    assert unserializable_path({"a": {1: "x"}}) == '["a"] key 1: int (keys must be strings)'
    assert unserializable_path({1, 2}) == "answer: set"
    loop: dict = {"a": [1]}
    loop["a"].append(loop)
    assert unserializable_path(loop) == (
        '["a"][1]: a dict that holds itself (the answer refers to itself)'
    )
