"""Shared helpers for the evidence tests: a small users frame (the stores and keys are in
fixtures/evidence.py)."""

from __future__ import annotations

import pandas as pd

BIG_ID = 2**62 + 7  # far above 2**53: a float64 round trip would change it


def users_frame(names: tuple[str, ...] = ("Ada", "Grace")) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame(
        {
            "user_id": pd.array([BIG_ID + i for i in range(n)], dtype="int64"),
            "name": list(names),
            "email": [f"{name.lower()}@example.com" for name in names],
            "created_at": pd.to_datetime(
                [f"2025-0{1 + i % 9}-15T08:30:00Z" for i in range(n)], utc=True, format="ISO8601"
            ),
            "default_number_id": pd.array([None] + [10 + i for i in range(1, n)], dtype="Int64"),
            "available": [True] * n,
        }
    )
