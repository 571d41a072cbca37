"""Which index torch reports when several elements share the selected value (kthvalue, mode).

torch does not define it; its CPU kernels leave it to the selection or sort algorithm they run, so the
engine runs the same algorithms on (value, index) pairs and reports the index they end on:
- kthvalue: Sedgewick's quickselect with a median-of-three pivot (torch's quick_select_template),
  NaN ordered above every number;
- the median of all elements: std::nth_element (libstdc++'s introselect), whose choice shows only in
  the sign of a zero median;
- topk: std::partial_sort of the first k (k * 64 <= n), else std::nth_element at k - 1 and (sorted=True)
  std::sort of the k - 1 before it, with "greater" (largest) or "less" (smallest), NaN above every number;
- sort (quantile's order statistics): std::sort with NaN above every number;
- mode: the C++ standard library's std::sort (GNU libstdc++'s introsort: median-of-three partitions
  down to 16 elements, then an insertion sort) of the values with `<`, then the last element of the
  longest run of equal values (the first such run, so the smallest value wins a tie of counts).
Both work on one row (a 1-d NumPy array) and return the chosen position in it; the callers run them
only on rows where a tie makes the choice matter.
"""
from __future__ import annotations

import math

import numpy as np


def _above(x: float, y: float) -> bool:
    """x > y with NaN above every number (torch's order for kthvalue, median, sort)."""
    return (x != x and y == y) or x > y


def quickselect_index(row: np.ndarray, k: int) -> int:
    """The original position of the element quickselect leaves at sorted position k (0-based)."""
    values = row.tolist()
    index = list(range(len(values)))

    def swap(i: int, j: int) -> None:
        values[i], values[j] = values[j], values[i]
        index[i], index[j] = index[j], index[i]

    left, right = 0, len(values) - 1
    while right > left:
        if right == left + 1:
            if _above(values[left], values[right]):
                swap(left, right)
            break
        # the median of left, middle and right ends at `left` and is the pivot; the smaller at left+1,
        # the larger at right guard both scans
        swap((left + right) >> 1, left + 1)
        if _above(values[left + 1], values[right]):
            swap(left + 1, right)
        if _above(values[left], values[right]):
            swap(left, right)
        if _above(values[left + 1], values[left]):
            swap(left + 1, left)
        i, j, pivot = left + 1, right, values[left]
        while True:
            i += 1
            while _above(pivot, values[i]):
                i += 1
            j -= 1
            while _above(values[j], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(left, j)
        if j <= k:
            left = i
        if j >= k:
            right = j - 1
    return index[k]


_INSERTION_LIMIT = 16  # libstdc++'s _S_threshold: below it std::sort finishes with an insertion sort


def std_sort_order(row: np.ndarray, nan_last: bool = False) -> list:
    """The positions of row's elements in the order std::sort(first, last, less-on-values) leaves them;
    with nan_last, NaN above every number: torch's CPU sort of a floating row (ascending, stable=False)."""
    pairs = list(zip(row.tolist(), range(len(row))))
    less = _less_nan_last if nan_last else _less
    if len(pairs) > 1:
        _introsort(pairs, 0, len(pairs), 2 * int(math.log2(len(pairs))), less)
        _final_insertion_sort(pairs, 0, len(pairs), less)
    return [i for _, i in pairs]


def nth_element_index(row: np.ndarray, k: int, nan_last: bool = False) -> int:
    """The original position of the element std::nth_element leaves at position k; `<` on the values, or
    with NaN above every number (nan_last), as torch's median and nanmedian of all elements."""
    pairs = list(zip(row.tolist(), range(len(row))))
    _nth_element(pairs, k, _less_nan_last if nan_last else _less)
    return pairs[k][1]


def topk_positions(row: np.ndarray, k: int, largest: bool, sorted: bool) -> list:  # noqa: A002 - torch's name
    """The original positions of the k elements torch's topk reports, in its order."""
    pairs = list(zip(row.tolist(), range(len(row))))
    before = _greater_nan_first if largest else _less_nan_last
    if k * 64 <= len(pairs):
        _partial_sort(pairs, k, before)
    else:
        _nth_element(pairs, k - 1, before)
        if sorted and k > 2:
            _introsort(pairs, 0, k - 1, 2 * int(math.log2(k - 1)), before)
            _final_insertion_sort(pairs, 0, k - 1, before)
    return [i for _, i in pairs[:k]]


def mode_index(row: np.ndarray) -> int:
    """torch's mode: after std::sort, the last element of the first longest run of equal values."""
    order = std_sort_order(row)
    best, best_count, count = 0, 0, 0
    for position, i in enumerate(order):
        count += 1
        last = position == len(order) - 1
        if last or row[i] != row[order[position + 1]]:  # NaN != NaN: each NaN is a run of its own
            if count > best_count:
                best, best_count = i, count
            count = 0
    return best


def _less(a: tuple, b: tuple) -> bool:
    return a[0] < b[0]


def _less_nan_last(a: tuple, b: tuple) -> bool:
    return a[0] < b[0] or (b[0] != b[0] and a[0] == a[0])


def _greater_nan_first(a: tuple, b: tuple) -> bool:
    return a[0] > b[0] or (a[0] != a[0] and b[0] == b[0])


def _nth_element(pairs: list, nth: int, less) -> None:
    """libstdc++'s introselect: median-of-three partitions down to 3 elements, then an insertion sort."""
    first, last = 0, len(pairs)
    depth = 2 * int(math.log2(max(len(pairs), 1)))
    while last - first > 3:
        if depth == 0:
            _heap_select(pairs, first, nth + 1, last, less)
            pairs[first], pairs[nth] = pairs[nth], pairs[first]
            return
        depth -= 1
        cut = _partition_around_median(pairs, first, last, less)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(pairs, first, last, less)


def _partial_sort(pairs: list, middle: int, less) -> None:
    """std::partial_sort(first, first + middle, last): a heap of the first `middle`, then sorted."""
    _heap_select(pairs, 0, middle, len(pairs), less)
    for end in range(middle - 1, 0, -1):  # sort_heap
        value = pairs[end]
        pairs[end] = pairs[0]
        _adjust_heap(pairs, 0, 0, end, value, less)


def _heap_select(pairs: list, first: int, middle: int, last: int, less) -> None:
    """Make a heap of [first, middle), then swap in each later element that comes before its top."""
    n = middle - first
    for parent in range((n - 2) // 2, -1, -1):
        _adjust_heap(pairs, first, parent, n, pairs[first + parent], less)
    for i in range(middle, last):
        if less(pairs[i], pairs[first]):
            value = pairs[i]
            pairs[i] = pairs[first]
            _adjust_heap(pairs, first, 0, n, value, less)


def _introsort(pairs: list, first: int, last: int, depth: int, less=_less) -> None:
    while last - first > _INSERTION_LIMIT:
        if depth == 0:
            _heap_sort(pairs, first, last, less)
            return
        depth -= 1
        cut = _partition_around_median(pairs, first, last, less)
        _introsort(pairs, cut, last, depth, less)
        last = cut


def _partition_around_median(pairs: list, first: int, last: int, less=_less) -> int:
    mid = first + (last - first) // 2
    a, b, c = first + 1, mid, last - 1
    # move the median of a, b, c to `first`, then partition [first + 1, last) around it
    if less(pairs[a], pairs[b]):
        median = b if less(pairs[b], pairs[c]) else (c if less(pairs[a], pairs[c]) else a)
    else:
        median = a if less(pairs[a], pairs[c]) else (c if less(pairs[b], pairs[c]) else b)
    pairs[first], pairs[median] = pairs[median], pairs[first]
    pivot, lo, hi = pairs[first], first + 1, last
    while True:
        while less(pairs[lo], pivot):
            lo += 1
        hi -= 1
        while less(pivot, pairs[hi]):
            hi -= 1
        if not lo < hi:
            return lo
        pairs[lo], pairs[hi] = pairs[hi], pairs[lo]
        lo += 1


def _final_insertion_sort(pairs: list, first: int, last: int, less=_less) -> None:
    if last - first > _INSERTION_LIMIT:
        _insertion_sort(pairs, first, first + _INSERTION_LIMIT, less)
        for i in range(first + _INSERTION_LIMIT, last):
            _linear_insert(pairs, i, less)
    else:
        _insertion_sort(pairs, first, last, less)


def _insertion_sort(pairs: list, first: int, last: int, less=_less) -> None:
    for i in range(first + 1, last):
        if less(pairs[i], pairs[first]):
            pairs[first:i + 1] = [pairs[i]] + pairs[first:i]
        else:
            _linear_insert(pairs, i, less)


def _linear_insert(pairs: list, i: int, less=_less) -> None:
    value = pairs[i]
    while less(value, pairs[i - 1]):
        pairs[i] = pairs[i - 1]
        i -= 1
    pairs[i] = value


def _heap_sort(pairs: list, first: int, last: int, less=_less) -> None:
    """std::partial_sort(first, last, last): make_heap, then pop the largest to the back, one by one."""
    n = last - first
    for parent in range((n - 2) // 2, -1, -1):
        _adjust_heap(pairs, first, parent, n, pairs[first + parent], less)
    for end in range(n - 1, 0, -1):
        value = pairs[first + end]
        pairs[first + end] = pairs[first]
        _adjust_heap(pairs, first, 0, end, value, less)


def _adjust_heap(pairs: list, first: int, hole: int, n: int, value: tuple, less=_less) -> None:
    """libstdc++'s __adjust_heap: sift the hole down to a leaf along the larger children, then push value up."""
    top = hole
    child = hole
    while child < (n - 1) // 2:
        child = 2 * (child + 1)
        if less(pairs[first + child], pairs[first + child - 1]):
            child -= 1
        pairs[first + hole] = pairs[first + child]
        hole = child
    if n % 2 == 0 and child == (n - 2) // 2:
        child = 2 * (child + 1)
        pairs[first + hole] = pairs[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and less(pairs[first + parent], value):
        pairs[first + hole] = pairs[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    pairs[first + hole] = value
