"""Go's ``text/tabwriter`` layout and ``sort.Slice`` ordering, for byte-exact istioctl tables.

istioctl lays its tables out with ``tabwriter`` and orders rows with ``sort.Slice``
(pattern-defeating quicksort, not stable): where its comparator has ties, the order of equal
elements is whatever pdqsort leaves, so :func:`go_sort_slice` runs the same algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["go_sort_slice", "sort_by_key", "tabwrite"]

T = TypeVar("T")


# --------------------------------------------------------------------------------------
# Go text/tabwriter and sort.Slice
# --------------------------------------------------------------------------------------


def tabwrite(rows: Sequence[Sequence[str]], padding: int, minwidth: int = 0) -> str:
    """Lay out ``rows`` like Go ``tabwriter.NewWriter(w, minwidth, _, padding, ' ', 0)``.

    Each row is the tab-separated cells of one line; the final cell of a row is not part of a
    column (Go treats text after the last tab as a trailing cell) and gets no padding. All rows
    of one table have the same number of cells, so the whole table is one column block.
    """
    if not rows:
        return ""
    n = len(rows[0])
    if n > 1 and all(len(r) == n for r in rows):
        # the usual case, one str.format per line (a big dump has tens of thousands of lines)
        cols = list(zip(*rows, strict=True))[:-1]
        widths = [max(minwidth, max(map(len, col)) + padding) for col in cols]
        fmt = "".join(f"{{:<{w}}}" for w in widths) + "{}"
        return "\n".join([fmt.format(*r) for r in rows] + [""])
    ncols = max(len(r) for r in rows) - 1
    widths = [minwidth] * ncols
    for r in rows:
        for j in range(len(r) - 1):
            w = len(r[j]) + padding
            if w > widths[j]:
                widths[j] = w
    out = []
    for r in rows:
        last = len(r) - 1
        out.append("".join([r[j].ljust(widths[j]) for j in range(last)]) + r[last])
    out.append("")
    return "\n".join(out)


def _xorshift_next(state: list[int]) -> int:
    r = state[0]
    r ^= (r << 13) & 0xFFFFFFFFFFFFFFFF
    r ^= r >> 7
    r ^= (r << 17) & 0xFFFFFFFFFFFFFFFF
    state[0] = r
    return r


def go_sort_slice(data: list[T], less: Callable[[T, T], bool]) -> None:
    """In-place port of Go's ``sort.Slice`` (pdqsort, Go ≥ 1.19) for identical tie-breaking."""
    n = len(data)
    if n < 2:
        return

    def lt(i: int, j: int) -> bool:
        return less(data[i], data[j])

    def swap(i: int, j: int) -> None:
        data[i], data[j] = data[j], data[i]

    def insertion(a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and lt(j, j - 1):
                swap(j, j - 1)
                j -= 1

    def sift_down(lo: int, hi: int, first: int) -> None:
        root = lo
        while True:
            child = 2 * root + 1
            if child >= hi:
                return
            if child + 1 < hi and lt(first + child, first + child + 1):
                child += 1
            if not lt(first + root, first + child):
                return
            swap(first + root, first + child)
            root = child

    def heap_sort(a: int, b: int) -> None:
        first, lo, hi = a, 0, b - a
        for i in range((hi - 1) // 2, -1, -1):
            sift_down(i, hi, first)
        for i in range(hi - 1, -1, -1):
            swap(first, first + i)
            sift_down(lo, i, first)

    def order2(a: int, b: int, swaps: list[int]) -> tuple[int, int]:
        if lt(b, a):
            swaps[0] += 1
            return b, a
        return a, b

    def median(a: int, b: int, c: int, swaps: list[int]) -> int:
        a, b = order2(a, b, swaps)
        b, c = order2(b, c, swaps)
        a, b = order2(a, b, swaps)
        return b

    def choose_pivot(a: int, b: int) -> tuple[int, int]:
        # hint: 0 unknown, 1 increasing, 2 decreasing
        length = b - a
        swaps = [0]
        i = a + length // 4 * 1
        j = a + length // 4 * 2
        k = a + length // 4 * 3
        if length >= 8:
            if length >= 50:
                i = median(i - 1, i, i + 1, swaps)
                j = median(j - 1, j, j + 1, swaps)
                k = median(k - 1, k, k + 1, swaps)
            j = median(i, j, k, swaps)
        if swaps[0] == 0:
            return j, 1
        if swaps[0] == 12:
            return j, 2
        return j, 0

    def reverse_range(a: int, b: int) -> None:
        i, j = a, b - 1
        while i < j:
            swap(i, j)
            i += 1
            j -= 1

    def partial_insertion(a: int, b: int) -> bool:
        i = a + 1
        for _ in range(5):
            while i < b and not lt(i, i - 1):
                i += 1
            if i == b:
                return True
            if b - a < 50:
                return False
            swap(i, i - 1)
            if i - a >= 2:
                j = i - 1
                while j >= 1:
                    if not lt(j, j - 1):
                        break
                    swap(j, j - 1)
                    j -= 1
            if b - i >= 2:
                j = i + 1
                while j < b:
                    if not lt(j, j - 1):
                        break
                    swap(j, j - 1)
                    j += 1
        return False

    def break_patterns(a: int, b: int) -> None:
        length = b - a
        if length >= 8:
            state = [length]
            modulus = 1 << length.bit_length()
            for idx in range(a + (length // 4) * 2 - 1, a + (length // 4) * 2 + 2):
                other = _xorshift_next(state) & (modulus - 1)
                if other >= length:
                    other -= length
                swap(idx, a + other)

    # Go's partition and partitionEqual are the same Hoare sweep around the pivot at ``a``; they
    # differ only in where elements equal to the pivot go (right, or left with ``equal_left``).
    def sweep(a: int, b: int, pivot: int, *, equal_left: bool) -> tuple[int, int, bool]:
        """Move the pivot to ``a`` and swap the elements of ``[a+1, b)`` until those that belong
        left of it precede the others; return where the two scans stopped and whether anything
        moved."""
        swap(a, pivot)
        i, j = a + 1, b - 1
        swapped = False
        while True:
            if equal_left:
                while i <= j and not lt(a, i):
                    i += 1
                while i <= j and lt(a, j):
                    j -= 1
            else:
                while i <= j and lt(i, a):
                    i += 1
                while i <= j and not lt(j, a):
                    j -= 1
            if i > j:
                return i, j, swapped
            swap(i, j)
            i += 1
            j -= 1
            swapped = True

    def pdq(a: int, b: int, limit: int) -> None:
        was_balanced = True
        was_partitioned = True
        while True:
            length = b - a
            if length <= 12:
                insertion(a, b)
                return
            if limit == 0:
                heap_sort(a, b)
                return
            if not was_balanced:
                break_patterns(a, b)
                limit -= 1
            pivot, hint = choose_pivot(a, b)
            if hint == 2:
                reverse_range(a, b)
                pivot = (b - 1) - (pivot - a)
                hint = 1
            if was_balanced and was_partitioned and hint == 1:
                if partial_insertion(a, b):
                    return
            if a > 0 and not lt(a - 1, pivot):
                a, _, _ = sweep(a, b, pivot, equal_left=True)  # Go: partitionEqual
                continue
            _, mid, swapped = sweep(a, b, pivot, equal_left=False)  # Go: partition
            swap(mid, a)
            was_partitioned = not swapped
            left, right = mid - a, b - mid
            threshold = length // 8
            if left < right:
                was_balanced = left >= threshold
                pdq(a, mid, limit)
                a = mid + 1
            else:
                was_balanced = right >= threshold
                pdq(mid + 1, b, limit)
                b = mid

    pdq(0, n, n.bit_length())


def sort_by_key(items: list[T], key: Callable[[T], Any]) -> list[T]:
    """Sort like Go ``sort.Slice`` with ``less = key(a) < key(b)``.

    With distinct keys every correct sort gives the same order, so the fast built-in sort is
    used; only when keys tie does the exact pdqsort emulation decide the order.
    """
    keys = [key(x) for x in items]
    if len(set(keys)) == len(keys):
        order = sorted(range(len(items)), key=keys.__getitem__)
        return [items[i] for i in order]
    pairs = list(zip(keys, items, strict=True))
    go_sort_slice(pairs, lambda x, y: x[0] < y[0])
    return [p[1] for p in pairs]

