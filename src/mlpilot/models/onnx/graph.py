"""A small ONNX graph builder: unique names, constants, nodes, and merging converted graphs.

Every name the builder makes is unique in the graph, so the graph inputs can carry the users'
column names unchanged, and graphs produced by converters (skl2onnx, CatBoost's exporter) are
merged under a prefix of their own.

Example:
    >>> import numpy as np
    >>> from onnx import TensorProto
    >>> g = GraphBuilder()
    >>> x = g.add_input("x", TensorProto.DOUBLE, [None, 1])
    >>> y = g.op("Mul", [x, g.const(np.array([[2.0]]), "two")], "doubled")
    >>> g.add_output(y, "y", TensorProto.DOUBLE, [None, 1])
    >>> import onnxruntime as ort
    >>> session = ort.InferenceSession(g.build().SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> session.run(None, {"x": np.array([[1.5]])})[0].tolist()
    [[3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: ai.onnx opset of every graph mlpilot writes (the converters' newest common opset)
OPSET = 15
#: ai.onnx.ml opset (TreeEnsembleRegressor with double thresholds, LabelEncoder string->float)
ML_OPSET = 3
#: IR version for opset 15 (what onnxruntime >= 1.10 reads)
IR_VERSION = 8
#: domain of onnxruntime's contrib operators (Tokenizer, used for text statistics)
MS_DOMAIN = "com.microsoft"


class GraphBuilder:
    """Collects the nodes, constants, inputs and outputs of one ONNX graph."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.domains: dict[str, int] = {"": OPSET, "ai.onnx.ml": ML_OPSET}
        self._used: set[str] = set()
        self._count = 0

    def name(self, hint: str) -> str:
        """A name nobody in this graph uses yet, derived from ``hint``."""
        while True:
            self._count += 1
            candidate = f"_{hint}_{self._count}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def add_input(self, name: str, elem_type: int, shape: Sequence[int | None]) -> str:
        """Declare a graph input named exactly ``name`` (e.g. a column name)."""
        if name in self._used:
            raise ValueError(f"graph input name {name!r} is used twice")
        self._used.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def add_output(self, tensor: str, name: str, elem_type: int,
                   shape: Sequence[int | str | None]) -> None:
        """Expose ``tensor`` as the graph output ``name``."""
        self._used.add(name)
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=self.name("out")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))

    def const(self, value: Any, hint: str = "const") -> str:
        """A constant tensor (numpy array; strings as an object array)."""
        array = np.asarray(value)
        name = self.name(hint)
        if array.dtype.kind in "OUS":
            tensor = helper.make_tensor(name, TensorProto.STRING, array.shape,
                                        [str(v).encode("utf-8") for v in array.ravel()])
        else:
            tensor = numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, *,
           domain: str = "", outputs: int = 1, **attrs: Any) -> Any:
        """Add a node; returns its output name (a list of names when ``outputs`` > 1)."""
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           name=self.name(f"n_{op_type}"), domain=domain,
                                           **attrs))
        return names[0] if outputs == 1 else names

    def use_domain(self, domain: str, version: int) -> None:
        self.domains[domain] = max(self.domains.get(domain, 0), version)

    def merge(self, model: onnx.ModelProto, feeds: dict[str, str], hint: str) -> dict[str, str]:
        """Copy ``model``'s graph in under a fresh prefix, feeding its inputs from ``feeds``
        (its input name -> a tensor of this graph); returns its output name -> new name."""
        prefix = self.name(hint) + "/"
        graph = onnx.compose.add_prefix(model, prefix).graph
        for graph_input in graph.input:
            original = graph_input.name[len(prefix):]
            if original not in feeds:
                raise ValueError(f"no feed for the converted graph's input {original!r}")
            self.nodes.append(helper.make_node("Identity", [feeds[original]], [graph_input.name],
                                               name=self.name("feed")))
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        for opset in model.opset_import:
            if opset.domain not in ("", "ai.onnx"):
                self.use_domain(opset.domain, opset.version)
        self._used.update(n for node in graph.node for n in node.output)
        return {o.name[len(prefix):]: o.name for o in graph.output}

    def build(self, doc: str = "", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
        """The checked model."""
        graph = helper.make_graph(self.nodes, "mlpilot", self.inputs, self.outputs,
                                  initializer=self.initializers)
        model = helper.make_model(
            graph, ir_version=IR_VERSION, producer_name="mlpilot",
            opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(self.domains.items())])
        model.doc_string = doc
        if metadata:
            helper.set_model_props(model, metadata)
        onnx.checker.check_model(model)
        return model
