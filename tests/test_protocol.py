"""The hidden-test protocol: the data-only exchange format, the kernel's side, and the pieces of the judge."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from autograder import protocol
from autograder.judge import failed_output, hidden_calls, passed_output
from dlfs import grading
from dlfs.checks import CheckFailed
from dlfs.grading import Call, ExchangeError, OutputFile, Pixels, Raised, Unsupported, read_tree, write_tree

pytestmark = pytest.mark.autograder


def round_trip(value, tmp_path):
    write_tree(value, tmp_path / "tree")
    return read_tree(tmp_path / "tree")


def test_arrays_numbers_text_and_nesting_survive(tmp_path):
    value = {"a": np.arange(6.0).reshape(2, 3), "i": np.array([1, 2], dtype=np.int32), "b": np.array([True, False]),
             "s": np.array(["x", "yz"]), "n": None, "f": 1.5, "t": (1, [2, "three"]), "scalar": np.float32(2.5)}
    back = round_trip(value, tmp_path)
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["i"].dtype == np.int32 and back["b"].dtype == bool and back["s"].tolist() == ["x", "yz"]
    assert back["n"] is None and back["f"] == 1.5 and back["t"] == (1, [2, "three"])
    assert back["scalar"].dtype == np.float32 and back["scalar"].shape == ()


def test_frames_keep_columns_index_and_gaps(tmp_path):
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0], "name": ["a", None, "c"], "k": [1, 2, 3]}, index=[5, 7, 9])
    back = round_trip({"frame": frame, "series": frame["name"]}, tmp_path)
    assert list(back["frame"].columns) == ["x", "name", "k"] and list(back["frame"].index) == [5, 7, 9]
    assert back["frame"]["name"].isna().tolist() == [False, True, False]
    assert np.isnan(back["frame"]["x"].iloc[1]) and back["frame"]["k"].tolist() == [1, 2, 3]
    assert back["series"].tolist()[0] == "a" and back["series"].isna().tolist() == [False, True, False]


def test_calls_files_pixels_and_exceptions_survive(tmp_path):
    value = [Call((np.ones(2), OutputFile("out.csv")), {"k": 3}), Pixels(np.array([[0, 255]], dtype=np.uint8)),
             Raised("ValueError", "bad"), Unsupported("Thing")]
    call, pixels, raised, unsupported = round_trip(value, tmp_path)
    assert call.kwargs == {"k": 3} and call.args[1] == OutputFile("out.csv")
    np.testing.assert_array_equal(pixels.value(), [[0.0, 1.0]])
    assert raised == Raised("ValueError", "bad") and unsupported == Unsupported("Thing")


def test_what_cannot_be_carried_is_marked_not_pickled(tmp_path):
    back = round_trip({"objects": np.array([object()]), "custom": object()}, tmp_path)
    assert back["objects"] == Unsupported("an array of dtype object") and back["custom"] == Unsupported("object")


@pytest.mark.parametrize(
    "tree",
    [
        {"array": "0.npy"},  # a pickle
        {"array": "../../etc/passwd"},
        {"mystery": 1},
        {"json": {"a": 1}},
        {"list": {"not": "a list"}},
        [1, 2],
    ],
    ids=["pickle", "path", "unknown-kind", "json-object", "bad-list", "not-a-node"],
)
def test_hostile_answers_are_refused(tmp_path, tree):
    folder = tmp_path / "answers"
    folder.mkdir()
    np.save(folder / "0.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (folder / "tree.json").write_text(json.dumps(tree))
    with pytest.raises(ExchangeError):
        read_tree(folder)


def test_too_deep_too_large_or_no_json_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "a"
    folder.mkdir()
    deep = {"json": 1}
    for _ in range(grading.MAX_DEPTH + 2):
        deep = {"list": [deep]}
    (folder / "tree.json").write_text(json.dumps(deep))
    with pytest.raises(ExchangeError, match="malformed"):
        read_tree(folder)
    (folder / "tree.json").write_text("{not json")
    with pytest.raises(ExchangeError, match="not valid JSON"):
        read_tree(folder)
    write_tree({"a": np.zeros(1000)}, tmp_path / "b")
    monkeypatch.setattr(grading, "MAX_ARRAY_BYTES", 100)
    with pytest.raises(ExchangeError, match="MB of arrays"):
        read_tree(tmp_path / "b")
    with pytest.raises(ExchangeError, match="no answer file"):
        read_tree(tmp_path / "nothing")


def test_the_default_probe_records_results_errors_changes_and_files():
    def fn(x, path=None):
        if x.size == 0:
            raise ValueError("empty")
        x += 1
        if path:
            with open(path, "w") as handle:
                handle.write("hi")
        return x.sum()

    answers = grading.make_calls(fn, [Call((np.zeros(2),)), Call((np.zeros(0),)), Call((np.zeros(1), OutputFile("f")))])
    assert answers["results"][0] == 2.0 and answers["results"][1] == Raised("ValueError", "empty")
    assert answers["changed"] == [[0], [], [0]]
    assert answers["files"][2]["f"].tobytes() == b"hi"


def test_check_outside_grading_only_says_so(capsys, monkeypatch):
    monkeypatch.delenv(grading.EXCHANGE, raising=False)
    grading.check("w01_one_hot_values", print)
    assert "only while the notebook is graded" in capsys.readouterr().out


def test_check_with_no_inputs_says_the_answers_were_not_recorded(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(grading.EXCHANGE, str(tmp_path))
    grading.check("w01_one_hot_values", print)
    assert "could not be recorded" in capsys.readouterr().out
    assert not (tmp_path / "answers").exists()


def test_answers_turn_exceptions_and_changed_inputs_into_diagnoses():
    answers = protocol.Answers({"results": [Raised("NotImplementedError", ""), Raised("KeyError", "'x'"), 1.0],
                                "changed": [[], [], [1]]}, "f")
    with pytest.raises(CheckFailed, match="f is not implemented yet"):
        answers.result(0)
    with pytest.raises(CheckFailed, match="f raised KeyError: 'x'"):
        answers.result(1)
    with pytest.raises(CheckFailed, match="changed its input `Y` in place"):
        answers.result(2, arguments=("X", "Y"))
    with pytest.raises(CheckFailed, match="must return a tuple \\(a, b\\); got a float"):
        answers.parts(1.0, "a", "b")


def test_definition_skips_magics_and_finds_the_last_def():
    context = protocol.Context("f", sources=["%matplotlib inline\ndef f():\n    return 1", "def f():\n    return 2"])
    assert context.definition().endswith("return 2")


def test_hidden_calls_are_read_from_the_cell_source():
    source = '"""doc"""\nfrom dlfs.grading import check\ncheck("w01_a", f)\ncheck("w01_b", "file.csv", W, b)\nchecks.f(f)'
    assert [(c.case_id, c.target) for c in hidden_calls(source)] == [("w01_a", "f"), ("w01_b", "file.csv")]
    assert hidden_calls("def broken(:") == []


def test_verdict_outputs_are_a_pass_line_or_one_error():
    assert passed_output("w01_a", "fine")["text"] == "\u2713 w01_a: fine\n"
    error = failed_output("w01_a", "wrong")
    assert error["output_type"] == "error" and error["traceback"] == ["CheckFailed: w01_a: wrong"]


def test_an_unknown_case_and_a_fresh_case_are_handled():
    with pytest.raises(KeyError, match="unknown hidden test 'w01_nope'"):
        protocol.get_case("w01_nope")
    speed = protocol.get_case("w01_l2_no_loops_speed")
    assert speed.fresh and not protocol.get_case("w01_l2_distances_shapes").fresh
    first, second = speed.build()[0]["calls"][0].args[0], speed.build()[0]["calls"][0].args[0]
    assert not np.array_equal(first, second), "a fresh case must draw new inputs at every grading"
    fixed = protocol.get_case("w01_l2_distances_shapes")
    np.testing.assert_array_equal(fixed.build()[0]["calls"][0].args[0], fixed.build()[0]["calls"][0].args[0])


def test_the_kernel_cannot_import_the_instructor_side(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import autograder"], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert out.returncode != 0 and "No module named 'autograder'" in out.stderr


def test_an_all_numeric_frame_travels_as_one_array(tmp_path):
    frame = pd.DataFrame(np.arange(12).reshape(3, 4), columns=list("abcd"), index=[3, 1, 2])
    write_tree(frame, tmp_path / "t")
    assert len(list((tmp_path / "t").glob("*.npy"))) == 2  # the index and one block
    pd.testing.assert_frame_equal(read_tree(tmp_path / "t"), frame, check_index_type=False)
