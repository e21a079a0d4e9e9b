"""`flask recommendations evaluate` on a small hand-made data file in the Online Retail
format: one table, or JSON keyed by setting then algorithm with the production choice."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
from flask import Flask

from server.recommendations import evaluation


def write_online_retail(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with gzip.open(path, "wt", newline="", encoding="utf-8") as stream:
        out = csv.writer(stream)
        out.writerow(evaluation.ONLINE_RETAIL_HEADER)
        for invoice in range(1500):
            customer = int(rng.integers(0, 120))
            day = 1 + int(rng.integers(0, 200))
            when = f"2011-{1 + (day - 1) // 28:02d}-{1 + (day - 1) % 28:02d} 10:00:00"
            for code in set(np.minimum(rng.geometric(0.12, 3), 40).tolist()):
                out.writerow([invoice, f"P{code}", "x", 1, when, 1.5, f"{customer}.0", "UK"])
        # Rows the loader must drop: a cancellation, a guest, a fee.
        out.writerow(["C9", "P1", "x", 1, "2011-03-01 10:00:00", 1.5, "1.0", "UK"])
        out.writerow(["9999", "P1", "x", 1, "2011-03-01 10:00:00", 1.5, "", "UK"])
        out.writerow(["9998", "POST", "x", 1, "2011-03-01 10:00:00", 1.5, "1.0", "UK"])


def test_evaluate_prints_json_by_setting_with_the_production_algorithm(
    app: Flask, tmp_path: Path
) -> None:
    data = tmp_path / "online_retail.csv.gz"
    write_online_retail(data)
    saved = tmp_path / "out.json"

    result = app.test_cli_runner().invoke(
        args=[
            "recommendations",
            "evaluate",
            "--data",
            str(data),
            "--json",
            "--save-json",
            str(saved),
            "--algorithm",
            "popular",
            "--algorithm",
            "hybrid",
        ]
    )

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads(saved.read_text())
    assert set(printed) == {"all", "new"}
    chosen = {printed[s]["production"].pop("algorithm") for s in ("all", "new")}
    assert len(chosen) == 1  # one production algorithm, with its own parameters per setting
    for setting in ("all", "new"):
        assert set(printed[setting]) == {"popular", "hybrid", "production"}
        assert printed[setting]["production"] == printed[setting][next(iter(chosen))]
        for scores in printed[setting].values():
            assert 0.0 <= scores["ndcg@10"] <= 1.0
            assert {"precision@10", "recall@10", "map@10", "coverage"} <= set(scores)
            assert scores["train_seconds"] >= 0
            assert scores["peak_memory_mb"] > 0


def test_evaluate_prints_one_table_and_runs_algorithms_in_parallel(
    app: Flask, tmp_path: Path
) -> None:
    data = tmp_path / "online_retail.csv.gz"
    write_online_retail(data, seed=1)

    result = app.test_cli_runner().invoke(
        args=["recommendations", "evaluate", "--data", str(data), "--workers", "2"]
        + [arg for name in ("popular", "personal_frequency") for arg in ("--algorithm", name)]
    )

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert sum(1 for row in rows if row[:1] in (["all"], ["new"])) == 4
    assert "* production (best mean validation NDCG@10)" in result.stdout
