"""A speed verdict is given alone: a submission a speed case finds right but too slow while other workers ran
beside it is graded again, one at a time (``autograder.grade.grade``). What that rests on, without nbgrader: the
speed cases name the mistake, the grader reads it from the verdicts, the class report counts it by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autograder import protocol, report
from autograder.grade import Result, _too_slow
from dlfs.checks import CheckFailed

pytestmark = [pytest.mark.autograder]


def two_loops(X, Y):
    out = np.zeros((X.shape[0], Y.shape[0]))
    for i in range(X.shape[0]):
        for j in range(Y.shape[0]):
            out[i, j] = np.sqrt(np.sum((X[i] - Y[j]) ** 2))
    return out


def test_a_right_but_slow_answer_fails_the_speed_case_as_slow():
    protocol.load_week("w01")
    with pytest.raises(CheckFailed, match="faster than two Python loops") as failed:
        protocol.run_case("w01_l2_no_loops_speed", two_loops)
    assert failed.value.mistake == protocol.SLOW


def _verdicts(tmp_path, student, verdicts):
    folder = tmp_path / report.VERDICTS
    folder.mkdir(exist_ok=True)
    (folder / f"{student}.json").write_text(json.dumps({"verdicts": verdicts}))
    return Result(student, "graded", 37, 39)


def test_the_grader_regrades_only_a_submission_found_slow(tmp_path):
    slow = _verdicts(tmp_path, "slow", [{"case": "w01_l2_no_loops_speed", "passed": False, "mistake": protocol.SLOW,
                                        "message": "took 32.2 ms per call ..."}])
    wrong = _verdicts(tmp_path, "wrong", [{"case": "w01_l2_no_loops_speed", "passed": False, "mistake": "squared",
                                          "message": "squared distances"}])
    assert _too_slow(tmp_path, slow.student) and not _too_slow(tmp_path, wrong.student)
    assert not _too_slow(tmp_path, "absent")


def test_the_class_report_counts_slow_by_name_not_by_its_times():
    found = {report.finding({"mistake": protocol.SLOW, "message": f"w01: took {ms} ms per call"}) for ms in (31, 44)}
    assert found == {protocol.SLOW}
