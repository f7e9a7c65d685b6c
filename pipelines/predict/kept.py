"""Predictions kept from run to run: each objective's breach-risk and forecast rows with a digest
of everything they were computed from, so a run whose objective has the same inputs as the run
before takes its rows instead of simulating again (a day run again, a portfolio where one
service's evidence changed).

A prediction is a pure function of its inputs (the paths are seeded from the objective's keys),
so the kept rows are exactly what it would compute. The digest covers the prediction code (every
module of ``pipelines/predict`` and ``pipelines/sla``, and the numeric libraries' versions), the
inputs' values and schemas, the as-of time, the number of paths and the seed: any change
computes the prediction again.

Storage: per kind of prediction (``traffic``, ``items``: per objective; ``root_causes``: the
hints of every episode at once, their permutation test drawing from one generator) one Parquet
file per part (``risk`` and ``forecasts`` rows; ``hints``) in a folder, each with a ``digest``
column. A run keeps only what it used or computed, so the folder holds one run's predictions;
deleting it has every prediction computed again.
"""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PREDICTIONS_KEPT = ".predictions"
"""The folder in the Pledge home holding the kept predictions."""

_PACKAGES = Path(__file__).resolve().parents[1]
_CODE = hashlib.sha256(
    b"".join(
        path.read_bytes()
        for folder in ("predict", "sla")
        for path in sorted((_PACKAGES / folder).glob("*.py"))
    )
    + " ".join(version(package) for package in ("numpy", "polars", "statsmodels", "scipy")).encode()
).digest()
"""The code behind a prediction: a new version computes every prediction again."""


def inputs_digest(*inputs: Any) -> str:
    """A digest of a prediction's ``inputs`` and the prediction code: frames by schema and row
    hashes (in their order), arrays by dtype, shape and bytes, anything else by its repr."""
    digest = hashlib.sha256(_CODE)
    for value in inputs:
        if isinstance(value, pl.DataFrame):
            digest.update(f"frame {value.schema} {value.height}".encode())
            digest.update(value.hash_rows(seed=0).to_numpy().tobytes())
        elif isinstance(value, np.ndarray):
            digest.update(f"array {value.dtype} {value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(f"value {value!r}".encode())
    return digest.hexdigest()


Kept = tuple[pl.DataFrame, ...]
"""One prediction's rows, a frame per part."""


class KeptPredictions:
    """One kind's kept predictions in ``folder``: digest → its rows (a frame per part) as the
    last run left them, and those of this run (``get`` and ``put``) for ``save``. ``parts``:
    each part's name and schema (a prediction whose first part has no rows is not found again:
    it is computed again)."""

    def __init__(self, folder: Path, kind: str, parts: dict[str, dict[str, Any]]) -> None:
        self._paths = tuple(folder / f"{kind}-{part}.parquet" for part in parts)
        self._schemas = tuple(parts.values())
        first, *others = (
            _read(path, schema) for path, schema in zip(self._paths, self._schemas, strict=True)
        )
        empties = [pl.DataFrame(schema=schema) for schema in self._schemas[1:]]
        self._before = {
            digest: (
                rows,
                *(other.get(digest, empty) for other, empty in zip(others, empties, strict=True)),
            )
            for digest, rows in first.items()
        }
        self._now: dict[str, Kept] = {}
        self.taken = 0
        """How many predictions ``get`` found."""

    def get(self, digest: str) -> Kept | None:
        """The rows kept for ``digest`` (kept for the next run too), or None."""
        kept = self._now.get(digest) or self._before.get(digest)
        if kept is not None:
            self._now[digest] = kept
            self.taken += 1
        return kept

    def put(self, digest: str, *rows: pl.DataFrame) -> None:
        """Keep the rows (a frame per part) computed from the inputs of ``digest``."""
        self._now[digest] = rows

    def save(self) -> None:
        """Write this run's predictions in place of the last run's."""
        for part, (path, schema) in enumerate(zip(self._paths, self._schemas, strict=True)):
            frame = pl.concat(
                [
                    pl.DataFrame(schema={**schema, "digest": pl.String}),
                    *(
                        kept[part].with_columns(digest=pl.lit(digest))
                        for digest, kept in self._now.items()
                    ),
                ]
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            frame.write_parquet(partial)
            partial.replace(path)


def _read(path: Path, schema: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """The rows of ``path`` by digest; none when it is missing, unreadable or of another
    schema (it is rewritten by ``save``)."""
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError):
        return {}
    if dict(frame.schema) != {**schema, "digest": pl.String}:
        return {}
    return {
        digest: part.drop("digest")
        for (digest,), part in frame.partition_by("digest", as_dict=True).items()
    }
