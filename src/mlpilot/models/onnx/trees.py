"""Decision-tree ensembles as one ``TreeEnsembleRegressor`` with double-precision thresholds.

The thresholds are stored as a double tensor (``nodes_values_as_tensor``), so a split compares
the double input with the library's own double threshold: no float32 rounding moves a split.
A categorical split on a set of levels becomes a chain of ``BRANCH_EQ`` nodes whose "true"
branches all lead to the same subtree. The operator sums the leaf weights per target (the raw
scores); link functions (sigmoid, softmax) are applied by the caller in double precision.

Example:
    >>> import numpy as np, onnxruntime as ort
    >>> from onnx import TensorProto
    >>> from mlpilot.models.onnx.graph import GraphBuilder
    >>> trees = TreeEnsemble(n_targets=1)
    >>> tree = trees.new_tree()
    >>> root = trees.split(tree, feature=0, mode="BRANCH_LEQ", value=0.1, missing_true=True)
    >>> trees.link(tree, root, trees.leaf(tree, {0: -1.0}), trees.leaf(tree, {0: 1.0}))
    >>> g = GraphBuilder()
    >>> x = g.add_input("x", TensorProto.DOUBLE, [None, 1])
    >>> g.add_output(trees.scores(g, x), "y", TensorProto.DOUBLE, [None, 1])
    >>> s = ort.InferenceSession(g.build().SerializeToString(), providers=["CPUExecutionProvider"])
    >>> s.run(None, {"x": np.array([[0.1], [np.nextafter(0.1, 1)], [np.nan]])})[0].ravel().tolist()
    [-1.0, 1.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import numpy_helper

from mlpilot.models.onnx.graph import GraphBuilder


class TreeEnsemble:
    """Accumulates trees node by node; :meth:`scores` adds the operator to a graph."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets
        self._nodes: dict[str, list] = {key: [] for key in (
            "treeids", "nodeids", "featureids", "modes", "values", "truenodeids",
            "falsenodeids", "missing_value_tracks_true")}
        self._targets: dict[str, list] = {key: [] for key in (
            "treeids", "nodeids", "ids", "weights")}
        self._sizes: list[int] = []
        self._chains: dict[int, list[int]] = {}

    def new_tree(self) -> int:
        self._sizes.append(0)
        return len(self._sizes) - 1

    def _node(self, tree: int, feature: int, mode: str, value: float,
              missing_true: bool) -> int:
        node = self._sizes[tree]
        self._sizes[tree] += 1
        for key, item in (("treeids", tree), ("nodeids", node), ("featureids", feature),
                          ("modes", mode), ("values", value), ("truenodeids", 0),
                          ("falsenodeids", 0), ("missing_value_tracks_true", int(missing_true))):
            self._nodes[key].append(item)
        return len(self._nodes["nodeids"]) - 1

    def split(self, tree: int, *, feature: int, mode: str, value: float,
              missing_true: bool) -> int:
        """A split node (children set later with :meth:`link`); returns its handle."""
        return self._node(tree, feature, mode, float(value), missing_true)

    def link(self, tree: int, handle: int, true_handle: int, false_handle: int) -> None:
        self._nodes["truenodeids"][handle] = self._nodes["nodeids"][true_handle]
        self._nodes["falsenodeids"][handle] = self._nodes["nodeids"][false_handle]

    def leaf(self, tree: int, weights: dict[int, float]) -> int:
        """A leaf adding ``weights`` (target -> value) to the scores; returns its handle."""
        handle = self._node(tree, 0, "LEAF", 0.0, False)
        for target, weight in weights.items():
            self._targets["treeids"].append(tree)
            self._targets["nodeids"].append(self._nodes["nodeids"][handle])
            self._targets["ids"].append(int(target))
            self._targets["weights"].append(float(weight))
        return handle

    def member_of(self, tree: int, *, feature: int, levels: Sequence[float],
                  missing_in_set: bool = False) -> int:
        """A chain of equality splits: true when the value is one of ``levels``; NaN takes the
        "in set" way when ``missing_in_set``, else the other.

        Returns the handle of the first node; :meth:`link_member` sets where the chain leads.
        """
        handles = [self.split(tree, feature=feature, mode="BRANCH_EQ", value=level,
                              missing_true=missing_in_set) for level in levels]
        self._chains[handles[0]] = handles
        return handles[0]

    def link_member(self, tree: int, first: int, in_set: int, not_in_set: int) -> None:
        chain = self._chains.pop(first)
        for handle, following in zip(chain, [*chain[1:], not_in_set], strict=True):
            self.link(tree, handle, in_set, following)

    def scores(self, g: GraphBuilder, features: str, hint: str = "trees") -> str:
        """The (n, n_targets) double sums of the leaf weights for the rows of ``features``."""
        nodes, targets = self._nodes, self._targets
        raw = g.op(
            "TreeEnsembleRegressor", [features], hint, domain="ai.onnx.ml",
            n_targets=self.n_targets, aggregate_function="SUM", post_transform="NONE",
            nodes_treeids=nodes["treeids"], nodes_nodeids=nodes["nodeids"],
            nodes_featureids=nodes["featureids"], nodes_modes=nodes["modes"],
            nodes_truenodeids=nodes["truenodeids"], nodes_falsenodeids=nodes["falsenodeids"],
            nodes_missing_value_tracks_true=nodes["missing_value_tracks_true"],
            nodes_values_as_tensor=numpy_helper.from_array(
                np.asarray(nodes["values"], dtype=np.float64)),
            target_treeids=targets["treeids"], target_nodeids=targets["nodeids"],
            target_ids=targets["ids"],
            target_weights_as_tensor=numpy_helper.from_array(
                np.asarray(targets["weights"], dtype=np.float64)))
        return g.op("Cast", [raw], f"{hint}_double", to=11)
