"""Visible checks of week 1, one name per graded function (``checks.softmax(softmax)``, ...).

The checks live in one module per part (``w01_*.py``); this module gathers them for the notebook.
"""

from dlfs.checks.w01_broadcasting import one_hot, softmax, standardize
from dlfs.checks.w01_distances import l2_distances, l2_distances_no_loops
from dlfs.checks.w01_knn import choose_k, knn_predict
from dlfs.checks.w01_penguins import (
    fill_missing_with_train_median,
    one_hot_categories,
    penguin_arrays,
    standardize_train_test,
)
from dlfs.checks.w01_softmax_regression import (
    frame_to_arrays,
    softmax_loss_grad,
    submission_file,
    train_softmax_regression,
    write_submission,
)

__all__ = [
    "choose_k",
    "fill_missing_with_train_median",
    "frame_to_arrays",
    "knn_predict",
    "l2_distances",
    "l2_distances_no_loops",
    "one_hot",
    "one_hot_categories",
    "penguin_arrays",
    "softmax",
    "softmax_loss_grad",
    "standardize",
    "standardize_train_test",
    "submission_file",
    "train_softmax_regression",
    "write_submission",
]
