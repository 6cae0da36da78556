"""The quality report of a table: what a person should know before spending a budget on it.

Checks: exact duplicate rows, conflicting labels (same features, different target), missing
values, constant and near-constant columns, identifier-like columns (left out of the features),
suspected leakage (one feature that predicts the target almost perfectly, or a near-copy of
it), class imbalance, inconsistent spellings within a column, outliers, and timeliness when an
event-time and an ingestion-time column are declared.

Example:
    >>> import pandas as pd
    >>> from mlpilot.data.schema import infer_schema
    >>> df = pd.DataFrame({"street": ["Main Street", "Main St", "main street ", "Elm Road"] * 20,
    ...                    "year": [2013] * 80, "y": [0, 1] * 40})
    >>> report = quality_report(df, infer_schema(df, target="y"), task="binary")
    >>> sorted({f.check for f in report.findings})
    ['class_imbalance', 'constant', 'duplicates', 'inconsistent_spelling']
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.data import _values as values
from mlpilot.data.findings import Finding, by_severity
from mlpilot.data.schema import ColumnKind, Schema

NEAR_CONSTANT_SHARE = 0.99
MISSING_WARNING = 0.5
MINORITY_WARNING = 0.1
OUTLIER_IQR = 3.0
LEAK_SAMPLE = 20_000
LEAK_SKILL = 0.95
LEAK_BINS = 50
FUZZY_TOP = 200
FUZZY_RATIO = 0.9
_ABBREVIATIONS = {
    "street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
    "lane": "ln", "place": "pl", "court": "ct", "square": "sq", "north": "n", "south": "s",
    "east": "e", "west": "w", "saint": "st", "mount": "mt", "company": "co",
    "incorporated": "inc", "corporation": "corp", "limited": "ltd", "and": "&",
}
_PUNCT = re.compile(r"[.,;:'\"_\-/()]+")


@dataclass(frozen=True)
class QualityReport:
    """Findings about a table plus a per-column summary (kind, role, missing, distinct)."""

    n_rows: int
    n_columns: int
    findings: tuple[Finding, ...]
    columns: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(f.severity == s for f in self.findings)
                  for s in ("blocking", "warning", "info")}
        return {"n_rows": self.n_rows, "n_columns": self.n_columns, "counts": counts,
                "findings": [f.to_dict() for f in self.findings],
                "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        return cls(n_rows=data["n_rows"], n_columns=data["n_columns"],
                   findings=tuple(Finding.from_dict(f) for f in data["findings"]),
                   columns=tuple(data["columns"]))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _role(schema: Schema, name: str) -> str:
    if name == schema.target:
        return "target"
    return "feature" if name in schema.feature_columns else "ignored"


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame, index=False)


def _duplicates(df: pd.DataFrame, schema: Schema) -> list[Finding]:
    out = []
    hashes = _row_hashes(df)
    dupes = int(hashes.duplicated().sum())
    if dupes:
        out.append(Finding("duplicates", "warning",
                           f"{dupes:,} rows ({dupes / len(df):.1%}) repeat an earlier row exactly",
                           details={"rows": dupes, "share": round(dupes / len(df), 6)}))
    features = [c for c in schema.feature_columns if c in df.columns]
    if features and schema.target in df.columns:
        labelled = df[df[schema.target].notna()]
        keys = _row_hashes(labelled[features])
        targets = labelled[schema.target].astype("str")
        n_labels = targets.groupby(keys.to_numpy()).nunique()
        conflicted = n_labels[n_labels > 1]
        if len(conflicted):
            rows = int(keys.isin(conflicted.index).sum())
            out.append(Finding(
                "conflicting_labels", "warning",
                f"{len(conflicted):,} groups of rows ({rows:,} rows) have identical features "
                f"but different values of {schema.target!r}",
                column=schema.target, details={"groups": len(conflicted), "rows": rows}))
    return out


def _column_checks(df: pd.DataFrame, schema: Schema) -> tuple[list[Finding], list[dict]]:
    findings, summary = [], []
    n = len(df)
    for spec in schema.columns:
        series = df[spec.name]
        missing = int(series.isna().sum())
        counts = series.value_counts(dropna=True)
        role = _role(schema, spec.name)
        summary.append({"column": spec.name, "kind": str(spec.kind), "role": role,
                        "missing": missing, "missing_fraction": round(missing / n, 6),
                        "n_unique": len(counts)})
        if missing:
            share = missing / n
            findings.append(Finding(
                "missing", "warning" if share >= MISSING_WARNING else "info",
                f"{missing:,} values ({share:.1%}) missing"
                + (" (those rows are left out of training)" if role == "target" else ""),
                column=spec.name, details={"missing": missing, "share": round(share, 6)}))
        if role == "target":
            continue
        if len(counts) <= 1:
            value = _plain(counts.index[0]) if len(counts) else None
            findings.append(Finding("constant", "warning",
                                    f"one value only ({value!r}): carries no information",
                                    column=spec.name, details={"value": str(value)}))
        elif counts.iloc[0] / n >= NEAR_CONSTANT_SHARE:
            share = counts.iloc[0] / n
            findings.append(Finding("near_constant", "info",
                                    f"{share:.2%} of rows hold {_plain(counts.index[0])!r}",
                                    column=spec.name, details={"share": round(share, 6)}))
        if spec.kind is ColumnKind.IDENTIFIER or spec.name in schema.id_columns:
            findings.append(Finding("identifier", "info",
                                    "unique per row (an identifier): left out of the features",
                                    column=spec.name, details={"n_unique": len(counts)}))
        elif spec.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER):
            findings.extend(_outliers(series, spec.name))
        elif spec.kind is ColumnKind.CATEGORICAL:
            findings.extend(_spellings(counts, spec.name))
    return findings, summary


def _outliers(series: pd.Series, name: str) -> list[Finding]:
    arr = series.to_numpy(dtype="float64", na_value=np.nan)
    arr = arr[np.isfinite(arr)]
    if arr.size < 20:
        return []
    q1, q3 = np.quantile(arr, [0.25, 0.75])
    iqr = q3 - q1
    if iqr <= 0:
        return []
    low, high = q1 - OUTLIER_IQR * iqr, q3 + OUTLIER_IQR * iqr
    outside = int(((arr < low) | (arr > high)).sum())
    if not outside:
        return []
    share = outside / arr.size
    return [Finding("outliers", "warning" if share > 0.01 else "info",
                    f"{outside:,} values ({share:.2%}) lie beyond 3 IQR of the quartiles "
                    f"(outside [{low:.4g}, {high:.4g}]); extremes {arr.min():.4g} .. "
                    f"{arr.max():.4g}",
                    column=name, details={"count": outside, "share": round(share, 6),
                                          "low": float(low), "high": float(high)})]


def spelling_key(value: str) -> str:
    """The normal form of a category: case, spaces, punctuation and common abbreviations.

    >>> spelling_key(" Main  Street."), spelling_key("main st")
    ('main st', 'main st')
    """
    words = _PUNCT.sub(" ", value.lower()).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def _wordy(key: str) -> bool:
    letters = sum(ch.isalpha() for ch in key)
    return len(key) >= 5 and letters >= 0.6 * len(key)


def _spellings(counts: pd.Series, name: str) -> list[Finding]:
    """Categories that differ only in case, spacing, punctuation, abbreviation or one typo."""
    groups: dict[str, list[str]] = {}
    for value in counts.index.astype("str"):
        groups.setdefault(spelling_key(value), []).append(value)
    top = [k for k in dict.fromkeys(spelling_key(v) for v in counts.index[:FUZZY_TOP]
                                    .astype("str")) if _wordy(k)]
    merged: dict[str, str] = {}
    for i, key in enumerate(top):
        if key in merged:
            continue
        for other in top[i + 1:]:
            if other not in merged and difflib.SequenceMatcher(
                    None, key, other).ratio() >= FUZZY_RATIO:
                merged[other] = key
    for other, key in merged.items():
        groups[key].extend(groups.pop(other))
    variants = [v for v in groups.values() if len(v) > 1]
    if not variants:
        return []
    shown = "; ".join(" / ".join(repr(x) for x in v[:4]) for v in variants[:5])
    return [Finding("inconsistent_spelling", "warning",
                    f"{len(variants)} group(s) of categories look like one value spelled "
                    f"differently: {shown}" + (" ..." if len(variants) > 5 else ""),
                    column=name, details={"groups": [v[:10] for v in variants[:20]]})]


def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes of a feature for a lookup table: quantile bins for many-valued numbers."""
    if values.is_number(series) and series.nunique() > LEAK_BINS:
        ranks = series.rank(method="first")
        return pd.qcut(ranks, LEAK_BINS, labels=False, duplicates="drop").fillna(-1).to_numpy()
    if values.is_datetime(series):
        return _codes(series.astype("int64").where(series.notna()))
    return pd.factorize(series.astype("str"), use_na_sentinel=True)[0]


def _lookup_skill(codes: np.ndarray, y: np.ndarray, classification: bool) -> float:
    """Held-out skill of predicting y from the code alone (1 = perfect, 0 = no better than
    the constant): fitted on even rows, scored on odd rows."""
    fit, score = slice(0, None, 2), slice(1, None, 2)
    frame = pd.DataFrame({"c": codes[fit], "y": y[fit]})
    if classification:
        overall = pd.Series(y[fit]).mode().iloc[0]
        table = frame.groupby("c")["y"].agg(lambda s: s.mode().iloc[0])
        guess = pd.Series(codes[score]).map(table).fillna(overall).to_numpy()
        accuracy = float((guess == y[score]).mean())
        base = float(pd.Series(y[score]).value_counts(normalize=True).iloc[0])
        return (accuracy - base) / (1 - base) if base < 1 else 0.0
    overall = float(np.mean(y[fit]))
    table = frame.groupby("c")["y"].mean()
    guess = pd.Series(codes[score]).map(table).fillna(overall).to_numpy(dtype="float64")
    truth = y[score].astype("float64")
    total = float(((truth - truth.mean()) ** 2).sum())
    return 1 - float(((truth - guess) ** 2).sum()) / total if total > 0 else 0.0


def _leakage(df: pd.DataFrame, schema: Schema, task: str) -> list[Finding]:
    labelled = df[df[schema.target].notna()]
    step = max(1, len(labelled) // LEAK_SAMPLE)
    sample = labelled.iloc[::step]
    if len(sample) < 40:
        return []
    classification = task != "regression"
    y_raw = sample[schema.target]
    y = (pd.factorize(y_raw.astype("str"))[0] if classification
         else y_raw.to_numpy(dtype="float64"))
    y_text = y_raw.astype("str").to_numpy()
    out = []
    for name in schema.feature_columns:
        series = sample[name]
        copy_share = float((series.astype("str").to_numpy() == y_text).mean())
        skill = _lookup_skill(_codes(series), y, classification)
        if copy_share >= NEAR_CONSTANT_SHARE or skill >= LEAK_SKILL:
            why = (f"equals the target on {copy_share:.1%} of rows" if copy_share >=
                   NEAR_CONSTANT_SHARE else f"alone predicts {schema.target!r} with held-out "
                   f"skill {skill:.3f} (1 = perfect)")
            out.append(Finding(
                "leakage", "warning",
                f"suspected leakage: {why}; is it known at prediction time? If not, drop it "
                f"(`mlpilot schema edit` and set its kind to identifier)",
                column=name, details={"skill": round(skill, 4),
                                      "copy_share": round(copy_share, 4)}))
    return out


def _imbalance(df: pd.DataFrame, schema: Schema) -> list[Finding]:
    shares = df[schema.target].value_counts(normalize=True, dropna=True)
    if len(shares) < 2:
        return []
    minority = float(shares.iloc[-1])
    text = ", ".join(f"{k}: {v:.1%}" for k, v in shares.head(6).items())
    return [Finding("class_imbalance", "warning" if minority < MINORITY_WARNING else "info",
                    f"class shares {text}" + (" (the smallest class is rare: prefer roc_auc "
                                              "or f1 over accuracy)"
                                              if minority < MINORITY_WARNING else ""),
                    column=schema.target,
                    details={"shares": {str(k): round(float(v), 6) for k, v in shares.items()}})]


def _timeliness(df: pd.DataFrame, schema: Schema) -> list[Finding]:
    event, ingested = schema.time_column, schema.ingestion_time_column
    if not event or not ingested or event not in df or ingested not in df:
        return []
    if schema.column(event).kind is not ColumnKind.DATETIME:  # a period (a year): no moment
        return []
    start, _ = values.coerce_datetime(df[event])
    end, _ = values.coerce_datetime(df[ingested])
    lag = (end - start).dt.total_seconds().dropna().to_numpy()
    if lag.size == 0:
        return []
    p50, p90, p99 = np.quantile(lag, [0.5, 0.9, 0.99])
    negative = int((lag < 0).sum())
    hours = {"p50": p50 / 3600, "p90": p90 / 3600, "p99": p99 / 3600, "max": lag.max() / 3600}
    text = ", ".join(f"{k} {v:.3g} h" for k, v in hours.items())
    out = [Finding("timeliness", "info", f"ingestion lag after the event: {text}",
                   column=ingested, details={k: round(float(v), 6) for k, v in hours.items()})]
    if negative:
        out.append(Finding("timeliness", "warning",
                           f"{negative:,} rows were ingested before their event time "
                           f"({event!r} after {ingested!r}): clock or parsing problem?",
                           column=ingested, details={"rows": negative}))
    return out


def quality_report(df: pd.DataFrame, schema: Schema, *, task: str) -> QualityReport:
    """Run every check on ``df`` (a table with the schema's columns) and collect the findings.

    Args:
        df: the table.
        schema: its schema (roles: target, identifiers, time and ingestion-time columns).
        task: "binary", "multiclass" or "regression" (leakage and imbalance depend on it).
    """
    df = df.reset_index(drop=True)
    findings = _duplicates(df, schema)
    column_findings, summary = _column_checks(df, schema)
    findings.extend(column_findings)
    if schema.target in df.columns and df[schema.target].notna().any():
        findings.extend(_leakage(df, schema, task))
        if task != "regression":
            findings.extend(_imbalance(df, schema))
    findings.extend(_timeliness(df, schema))
    return QualityReport(n_rows=len(df), n_columns=int(df.shape[1]),
                         findings=tuple(by_severity(findings)), columns=tuple(summary))
