"""A text step as ONNX operators: character and word counts, then the TF-IDF components.

- characters: onnxruntime's ``Tokenizer`` with one token per code point (pandas ``str.len``);
- words: tokens that are runs of characters Python's ``str.split()`` does not treat as
  whitespace (every ``str.isspace()`` character is listed in the pattern);
- TF-IDF (when the step has a vocabulary): tokens are the runs of two or more characters of
  Python's ``\\w`` class (the pipeline's ``\\b\\w\\w+\\b``), lower-cased, counted against the
  vocabulary (``TfIdfVectorizer``), weighted by the idf, L2-normalised per row and multiplied by
  the components, in double precision.

One difference remains and is stated in the contract: ``StringNormalizer`` lower-cases with the
"C" locale (other locales need not exist on a device, and onnxruntime refuses to load a graph
naming a missing one), i.e. ASCII letters only. A vocabulary word met with a non-ASCII capital
letter (``École``) is counted by the Predictor, not by the graph; the export's check on test
rows refuses a graph whose outputs differ because of it.

A missing value is the empty string, so an empty text gives NaN here where the Predictor counts
zero characters.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np

from mlpilot.models.onnx.graph import MS_DOMAIN, GraphBuilder
from mlpilot.models.onnx.inputs import MISSING_STRING

_PAD = "  "  # Tokenizer padding: never a one-character token nor a word without whitespace
DOUBLE = 11


def _class(chars: list[int]) -> str:
    """A regular-expression character class (RE2 syntax) of the code points ``chars``."""
    ranges: list[list[int]] = []
    for code in chars:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                   for a, b in ranges)


@cache
def word_pattern() -> str:
    """One word as ``str.split()`` sees it: a run of non-whitespace characters."""
    return "[^" + _class([c for c in range(0x110000) if chr(c).isspace()]) + "]+"


@cache
def term_pattern() -> str:
    """One term as the pipeline's ``(?u)\\b\\w\\w+\\b`` sees it: a maximal run of two or more
    of Python's word characters."""
    word = re.compile(r"\w")
    return "[" + _class([c for c in range(0x110000) if word.match(chr(c))]) + "]{2,}"


def _tokens(g: GraphBuilder, column: str, pattern: str) -> str:
    """(n, 1, t) tokens of ``pattern``, padded with ``_PAD``."""
    g.use_domain(MS_DOMAIN, 1)
    return g.op("Tokenizer", [column], "tokens", domain=MS_DOMAIN, mark=0, pad_value=_PAD,
                mincharnum=1, tokenexp=pattern)


def _count(g: GraphBuilder, tokens: str) -> str:
    real = g.op("LabelEncoder", [tokens], "real", domain="ai.onnx.ml", keys_strings=[_PAD],
                values_int64s=[0], default_int64=1)
    axis = g.const(np.array([2], dtype=np.int64), "axis")
    return g.op("Cast", [g.op("ReduceSum", [real, axis], "count", keepdims=0)], to=DOUBLE)


def text_columns(g: GraphBuilder, step: dict[str, Any], column: str) -> str:
    """(n, 2 + components): the step's raw columns, NaN where the value is missing ('')."""
    blocks = [_count(g, _tokens(g, column, "(?s).")), _count(g, _tokens(g, column,
                                                                          word_pattern()))]
    if step.get("vocabulary"):
        blocks.append(_tfidf(g, step, column))
    stats = g.op("Concat", blocks, "text", axis=1)
    empty = g.op("LabelEncoder", [column], "empty", domain="ai.onnx.ml",
                 keys_strings=[MISSING_STRING], values_int64s=[1], default_int64=0)
    missing = g.op("Cast", [empty], to=9)
    return g.op("Where", [missing, g.const(np.array(np.nan)), stats], "text_stats")


def _tfidf(g: GraphBuilder, step: dict[str, Any], column: str) -> str:
    tokens = _tokens(g, column, term_pattern())
    # one padding column more, so no tensor is ever empty (StringNormalizer refuses those)
    rows = g.op("Slice", [g.op("Shape", [tokens]), g.const(np.array([0], dtype=np.int64)),
                          g.const(np.array([2], dtype=np.int64))])
    pad_shape = g.op("Concat", [rows, g.const(np.array([1], dtype=np.int64))], axis=0)
    pad = g.op("Expand", [g.const(np.array([[[_PAD]]], dtype=object), "pad"), pad_shape])
    padded = g.op("Concat", [tokens, pad], axis=2)
    flat = g.op("Reshape", [padded, g.const(np.array([-1], dtype=np.int64))])
    lower = g.op("StringNormalizer", [flat], "lower", case_change_action="LOWER", locale="C")
    shape = g.op("Shape", [padded])
    terms = g.op("Squeeze", [g.op("Reshape", [lower, shape]),
                             g.const(np.array([1], dtype=np.int64))], "terms")
    vocabulary = [str(t) for t in step["vocabulary"]]
    counts = g.op("TfIdfVectorizer", [terms], "tf", mode="TF", min_gram_length=1,
                  max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                  ngram_indexes=list(range(len(vocabulary))), pool_strings=vocabulary)
    weights = g.op("Mul", [g.op("Cast", [counts], to=DOUBLE),
                           g.const(np.asarray([step["idf"]], dtype=np.float64), "idf")])
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [weights, weights]),
                                            g.const(np.array([1], dtype=np.int64))],
                              keepdims=1)])
    zero = g.op("Equal", [norm, g.const(np.array(0.0))])
    safe = g.op("Where", [zero, g.const(np.array(1.0)), norm])
    components = np.asarray(step["components"], dtype=np.float64)
    return g.op("MatMul", [g.op("Div", [weights, safe]), g.const(components, "components")],
                "tfidf")
