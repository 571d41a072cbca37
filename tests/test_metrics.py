"""Metrics against scikit-learn on hypothesis-generated labels, classes absent included."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg
from tinygrad_opt.train import (
    accuracy, classification_report, confusion_matrix, f1_score, format_report, per_class_scores, precision,
    recall, to_labels,
)

skm = pytest.importorskip("sklearn.metrics")


@st.composite
def label_pairs(draw):
    k = draw(st.integers(1, 7))
    n = draw(st.integers(1, 60))
    labels = st.lists(st.integers(0, k - 1), min_size=n, max_size=n)
    y_true = np.array(draw(labels))
    # often predict from a smaller set of classes, so some classes never appear in predictions
    pred_classes = draw(st.integers(1, k))
    y_pred = np.array(draw(st.lists(st.integers(0, pred_classes - 1), min_size=n, max_size=n)))
    return y_true, y_pred, k


@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn's accuracy_score on one class
@settings(max_examples=30, deadline=None)
@given(label_pairs())
def test_against_sklearn(pair):
    y_true, y_pred, k = pair
    labels = list(range(k))
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, k),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    np.testing.assert_allclose(precision(y_true, y_pred, k, average=None), p, atol=1e-12)
    np.testing.assert_allclose(recall(y_true, y_pred, k, average=None), r, atol=1e-12)
    np.testing.assert_allclose(f1_score(y_true, y_pred, k, average=None), f, atol=1e-12)
    np.testing.assert_array_equal(per_class_scores(confusion_matrix(y_true, y_pred, k))["support"], s)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                         zero_division=0)
        assert precision(y_true, y_pred, k, average=average) == pytest.approx(p, abs=1e-12)
        assert recall(y_true, y_pred, k, average=average) == pytest.approx(r, abs=1e-12)
        assert f1_score(y_true, y_pred, k, average=average) == pytest.approx(f, abs=1e-12)
    ours = classification_report(y_true, y_pred, num_classes=k)
    theirs = skm.classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert ours[key] == pytest.approx(value, abs=1e-12), key
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12), key


def test_class_absent_from_predictions_and_from_truth():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 0, 1, 0])  # class 2 is never predicted, class 3 never occurs
    report = classification_report(y_true, y_pred, num_classes=4)
    assert report["2"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 1}
    assert report["3"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    assert report["0"]["precision"] == pytest.approx(0.5) and report["0"]["recall"] == 1.0
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["macro avg"]["support"] == 5


def test_logits_and_tensors():
    logits = np.array([[2.0, 0.1, 0.3], [0.0, 3.0, 1.0], [0.1, 0.2, 0.05], [0.0, 0.0, 9.0]], np.float32)
    y = np.array([0, 1, 2, 2])
    assert to_labels(logits).tolist() == [0, 1, 1, 2]
    assert accuracy(y, tg.Tensor(logits)) == 0.75
    assert accuracy(tg.Tensor(y), logits) == 0.75
    np.testing.assert_array_equal(confusion_matrix(y, tg.Tensor(logits)), [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    assert to_labels([1.0, 2.0]).dtype == np.int64
    assert f1_score(y, logits) == pytest.approx(skm.f1_score(y, [0, 1, 1, 2], average="macro"))


def test_inferred_number_of_classes():
    assert confusion_matrix([0, 3], [3, 3]).shape == (4, 4)
    report = classification_report([0, 1], [1, 1], class_names=["cat", "dog", "bird"])
    assert list(report)[:3] == ["cat", "dog", "bird"] and report["bird"]["support"] == 0


def test_format_report_matches_sklearn_text():
    y_true = np.array([0, 1, 2, 2, 1, 0, 3, 3, 3])
    y_pred = np.array([0, 2, 2, 2, 1, 1, 0, 3, 3])
    text = format_report(classification_report(y_true, y_pred, num_classes=5), digits=4)
    expected = skm.classification_report(y_true, y_pred, labels=range(5), digits=4, zero_division=0)
    assert [line.rstrip() for line in text.splitlines()] == [line.rstrip() for line in expected.splitlines()]
    names = format_report(classification_report(y_true, y_pred, class_names=["T-shirt/top", "b", "c", "d"]))
    assert "T-shirt/top" in names and "weighted avg" in names


# ---- bad input ------------------------------------------------------------------

def test_errors_are_clear():
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"y_pred: label 5 at index 1 is outside \[0, 3\)"):
        confusion_matrix([0, 1], [0, 5], num_classes=3)
    with pytest.raises(ValueError, match=r"y_true: label -1 at index 0 is outside \[0, 3\)"):
        f1_score([-1, 1], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="non-integer floats"):
        accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        confusion_matrix([0], [0], num_classes=0)
    with pytest.raises(ValueError, match="unknown average 'micro'"):
        precision([0, 1], [0, 1], average="micro")
    with pytest.raises(ValueError, match="no samples"):
        accuracy([], [])
    with pytest.raises(ValueError, match="pass num_classes"):
        confusion_matrix([], [])
    with pytest.raises(ValueError, match=r"expected class indices \(N,\) or scores \(N, C\)"):
        to_labels(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        classification_report([0, 2], [0, 1], num_classes=3, class_names=["a", "b"])
    assert confusion_matrix([], [], num_classes=2).tolist() == [[0, 0], [0, 0]]
