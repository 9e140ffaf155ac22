"""Tests of the Arrow text helpers on both kinds of batch column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadshare import arrowtext


@pytest.mark.parametrize("dtype", ["string[pyarrow]", object])
def test_replace_rows_keeps_storage(dtype) -> None:
    column = pd.Series(["a", None, "c", "d"], dtype=dtype, name="email")
    rows = np.array([False, True, True, False])
    replaced = arrowtext.replace_rows(column, rows, np.array(["x", None], dtype=object))

    assert replaced.tolist()[0] == "a"
    assert replaced.tolist()[1] == "x"
    assert pd.isna(replaced.tolist()[2])
    assert replaced.tolist()[3] == "d"
    assert replaced.dtype == column.dtype
    assert replaced.name == "email"
    assert column.tolist()[1] is None or pd.isna(column.tolist()[1])
    assert column.tolist()[2] == "c"
