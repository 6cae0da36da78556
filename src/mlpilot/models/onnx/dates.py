"""Calendar parts of a datetime input (epoch seconds) with ONNX arithmetic, like pandas' ``.dt``.

The seconds are floored, then: days since the epoch, the time of day (hour, minute), the day of
the week (Monday = 0; 1970-01-01 was a Thursday), the days since the epoch with the time of day
as a fraction ("days") and the civil date by H. Hinnant's ``civil_from_days`` algorithm (eras
of 400 years from 0000-03-01), all with floor divisions of integers held exactly in doubles,
so every date pandas can hold gets pandas' parts. NaN (a missing time) stays NaN in every
part, as NaT does.

Example:
    >>> import numpy as np, onnxruntime as ort
    >>> from onnx import TensorProto
    >>> from mlpilot.models.onnx.graph import GraphBuilder
    >>> g = GraphBuilder()
    >>> t = g.add_input("t", TensorProto.DOUBLE, [None, 1])
    >>> parts = ["year", "month", "day", "dayofweek", "hour", "minute", "dayofyear", "days"]
    >>> g.add_output(datetime_parts(g, t, parts), "parts", TensorProto.DOUBLE, [None, 8])
    >>> s = ort.InferenceSession(g.build().SerializeToString(), providers=["CPUExecutionProvider"])
    >>> seconds = np.datetime64("2024-02-29T13:45:10", "s").astype(np.int64)
    >>> out = s.run(None, {"t": np.array([[float(seconds)], [np.nan]])})[0].tolist()
    >>> out[0]
    [2024.0, 2.0, 29.0, 3.0, 13.0, 45.0, 60.0, 19782.573032407407]
    >>> out[1]
    [nan, nan, nan, nan, nan, nan, nan, nan]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlpilot.models.onnx.graph import GraphBuilder

_DAY = 86400.0


def datetime_parts(g: GraphBuilder, column: str, parts: list[str]) -> str:
    """(n, len(parts)) calendar parts of epoch seconds, like pandas' ``.dt`` accessors."""
    def const(value: float) -> str:
        return g.const(np.array(value, dtype=np.float64))

    def floordiv(a: str, b: float) -> str:
        return g.op("Floor", [g.op("Div", [a, const(b)])])

    def mul(a: str, b: float) -> str:
        return g.op("Mul", [a, const(b)])

    def sub(a: str, b: str) -> str:
        return g.op("Sub", [a, b])

    def add(a: str, b: float) -> str:
        return g.op("Add", [a, const(b)])

    seconds = g.op("Floor", [column], "seconds")
    days = floordiv(seconds, _DAY)
    of_day = sub(seconds, mul(days, _DAY))
    hour = floordiv(of_day, 3600.0)
    values: dict[str, str] = {"hour": hour,
                              "minute": floordiv(sub(of_day, mul(hour, 3600.0)), 60.0)}
    shifted = add(days, 3.0)  # 1970-01-01 was a Thursday (Monday = 0)
    values["dayofweek"] = sub(shifted, mul(floordiv(shifted, 7.0), 7.0))
    # civil_from_days (Hinnant): eras of 400 years starting on 0000-03-01
    z = add(days, 719468.0)
    era = floordiv(z, 146097.0)
    doe = sub(z, mul(era, 146097.0))
    yoe = floordiv(sub(g.op("Add", [sub(doe, floordiv(doe, 1460.0)), floordiv(doe, 36524.0)]),
                       floordiv(doe, 146096.0)), 365.0)
    year_march = g.op("Add", [yoe, mul(era, 400.0)])
    doy = sub(doe, g.op("Add", [sub(mul(yoe, 365.0), floordiv(yoe, 100.0)),
                                floordiv(yoe, 4.0)]))
    mp = floordiv(add(mul(doy, 5.0), 2.0), 153.0)
    values["day"] = add(sub(doy, floordiv(add(mul(mp, 153.0), 2.0), 5.0)), 1.0)
    early = g.op("GreaterOrEqual", [mp, const(10.0)])  # January or February
    values["month"] = g.op("Where", [early, add(mp, -9.0), add(mp, 3.0)])
    values["year"] = g.op("Where", [early, add(year_march, 1.0), year_march])
    # day of year: March 1 is day 60 (61 in a leap year); January 1 is March-based day 306
    leap = _is_leap(g, year_march, floordiv, mul, sub)
    march_on = g.op("Add", [add(doy, 60.0), leap])
    values["dayofyear"] = g.op("Where", [early, add(doy, -305.0), march_on])
    values["days"] = mul(seconds, 1.0 / _DAY)  # a product: bit-equal to numpy's
    return g.op("Concat", [values[p] for p in parts], "datetime", axis=1)


def _is_leap(g: GraphBuilder, year: str, floordiv: Callable[[str, float], str],
             mul: Callable[[str, float], str], sub: Callable[[str, str], str]) -> str:
    """1.0 in leap years of the proleptic Gregorian calendar, else 0.0."""
    def divisible(n: float) -> str:
        rest = sub(year, mul(floordiv(year, n), n))
        return g.op("Equal", [rest, g.const(np.array(0.0))])

    leap = g.op("Or", [g.op("And", [divisible(4.0), g.op("Not", [divisible(100.0)])]),
                       divisible(400.0)])
    return g.op("Cast", [leap], to=11)
