"""Tests of the Arrow memory pool choice, each in a new interpreter (the pool is global)."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

SCRIPT = """
import pyarrow as pa
from leadshare.memory import use_jemalloc_pool
chosen = use_jemalloc_pool()
print(chosen, pa.default_memory_pool().backend_name)
"""


def _chosen_pools(variable: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if variable is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = variable
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return result.stdout.split()


def _jemalloc_built() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


def test_pool_switches_to_jemalloc() -> None:
    expected = "jemalloc" if _jemalloc_built() else "system"
    assert _chosen_pools(None) == [expected, expected]


@pytest.mark.parametrize("variable", ["system", "mimalloc"])
def test_pool_variable_is_kept(variable: str) -> None:
    assert _chosen_pools(variable) == [variable, variable]
