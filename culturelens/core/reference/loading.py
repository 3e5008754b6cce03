"""Entry points: the embedded default reference, ``load_reference`` (one spec -> a reference) and ``build_reference``
(files of every source -> one merged reference)."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import pandas as pd

from culturelens.core.errors import DataError
from culturelens.core.reference._common import COLUMNS, COUNTRY_COLUMN
from culturelens.core.reference._common import default_bank as _default_bank
from culturelens.core.reference.consistency import TOLERANCE, check, consistency_report
from culturelens.core.reference.means_csv import build_from_means_csv
from culturelens.core.reference.model import HumanReference
from culturelens.core.reference.shares_json import build_from_shares_json
from culturelens.core.reference.sources import SOURCES, csv_header, merge_in_order, wvs_csvs_in
from culturelens.core.reference.wvs_csv import build_from_wvs_csv

log = logging.getLogger(__name__)
DEFAULT_FILE = "reference_default.json"


def default_reference() -> HumanReference:
    """The embedded reference: answer distributions for 24 countries (9 from WVS wave-7 respondent files, 15 more
    from answer shares) on every bank question they were asked, and 55 countries x 19 ethics questions with means
    (``scripts/build_default_reference.sh`` rebuilds it from ../shared/data)."""
    res = resources.files("culturelens.core") / "data" / DEFAULT_FILE
    try:
        text = res.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"the embedded reference culturelens/data/{DEFAULT_FILE} is missing: reinstall culturelens or "
                        "build one with `culturelens data build-reference`") from exc
    with_path = Path(str(res))
    if with_path.exists():
        return HumanReference.load(with_path)
    data = json.loads(text)  # pragma: no cover - zipped installs
    return HumanReference(pd.DataFrame(data["rows"], columns=COLUMNS), data.get("meta"))


def _log_warnings(warnings: list[str], limit: int = 10) -> None:
    for w in warnings[:limit]:
        log.warning(w)
    if len(warnings) > limit:
        log.warning("... and %d more warnings", len(warnings) - limit)


def _from_wvs(files: list[Path], bank) -> HumanReference:
    ref, warnings = build_from_wvs_csv(files, _default_bank(bank))
    _log_warnings(warnings)
    return ref


def _from_json(path: Path, bank) -> HumanReference:
    """A reference .json ({"meta", "rows"}) or an answer-shares file ({country: {qid: {code: share}}})."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return HumanReference.load(path)  # raises its one-line DataError
    if isinstance(data, dict) and data and "rows" not in data and all(isinstance(v, dict) for v in data.values()):
        warnings: list[str] = []
        ref = build_from_shares_json(path, _default_bank(bank), warnings=warnings)
        _log_warnings(warnings)
        return ref
    return HumanReference.load(path)


def load_reference(spec: str | Path | None = None, bank=None) -> HumanReference:
    """A human reference from: None or "default" (embedded), a reference .json, an answer-shares .json, a raw WVS
    wave-7 CSV (column B_COUNTRY_ALPHA), a country-means CSV (country + question/qid columns), or a folder of WVS
    CSVs."""
    if spec is None or str(spec).strip().lower() in ("", "default"):
        return default_reference()
    path = Path(str(spec)).expanduser()
    hint = ("pass 'default', a reference .json, an answer-shares .json, a WVS wave-7 CSV or folder of them, or a "
            "country-means CSV (country, question, wvs_score)")
    if not path.exists():
        raise DataError(f"reference '{spec}' not found: {hint}")
    if path.is_dir():
        files = wvs_csvs_in(path)
        if not files:
            raise DataError(f"reference folder {path} has no CSV with a {COUNTRY_COLUMN} column: {hint}")
        return _from_wvs(files, bank)
    if path.suffix.lower() == ".json":
        return _from_json(path, bank)
    header = csv_header(path)
    if COUNTRY_COLUMN in header:
        return _from_wvs([path], bank)
    if "COUNTRY" in header and ({"QUESTION", "QID"} & header):
        return build_from_means_csv(path, _default_bank(bank))
    raise DataError(f"{path} is neither a WVS wave-7 CSV (no {COUNTRY_COLUMN} column) nor a country-means CSV "
                    f"(columns country, question or qid, wvs_score or mean): {hint}")


def build_reference(
    wvs_csv: Iterable[str | Path] = (),
    means_csv: Iterable[str | Path] = (),
    questions: list[str] | None = None,
    countries: list[str] | None = None,
    bank=None,
    shares_json: Iterable[str | Path] = (),
    allow_mismatch: bool = False,
    tolerance: float = TOLERANCE,
) -> tuple[HumanReference, list[str]]:
    """One reference from the files of every source (``sources.SOURCES``, in precedence order: WVS respondent rows,
    then answer shares, then country means; where several cover a (country, qid), the earliest wins).

    Where two sources cover the same (country, qid), their max |delta share| and |delta mean| go to
    ``meta["consistency"]``; above ``tolerance`` that is a DataError unless ``allow_mismatch``.
    """
    bank = _default_bank(bank)
    given = {"wvs_csv": wvs_csv, "shares_json": shares_json, "means_csv": means_csv}
    inputs = [(src, src.expand(given.get(src.option) or [])) for src in SOURCES]
    if not any(paths for _, paths in inputs):
        raise DataError("nothing to build from: pass --wvs-csv, --shares-json and/or --means-csv FILE...")
    warnings: list[str] = []
    parts = [(src.kind, src.read(paths, bank, questions=questions, countries=countries, warnings=warnings))
             for src, paths in inputs if paths]
    found = [(kind, part) for kind, part in parts if part is not None and not part.df.empty]
    report = consistency_report(found)
    check(report, tolerance, allow_mismatch)
    ref = merge_in_order(part for _, part in found)
    if ref is None or ref.df.empty:
        raise DataError("the inputs gave no human answers for the chosen questions and countries")
    ref.meta["precedence"] = [src.kind for src in SOURCES]
    ref.meta["consistency"] = {"tolerance": tolerance, "allow_mismatch": allow_mismatch, "comparisons": report}
    return ref, warnings
