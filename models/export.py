"""Write a small MLP as a .tflite flatbuffer without TensorFlow.

    blob = mlp_to_tflite(layers=[(W1, b1), (W2, b2), (W3, b3)], description=spec_json)

`layers` are (weights[in, out], bias[out]) pairs as sklearn stores them; hidden layers use a
fused ReLU, the last one a softmax. The input's batch dimension is dynamic (-1), so the agent
scores all candidate setpoints in one call. `description` (the feature spec as JSON) rides
inside the file, so a model update is one signed blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flatbuffers
import numpy as np
import numpy.typing as npt
from ai_edge_litert import schema_py_generated as tfl

Layer = tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]


def _tensor(name: str, shape: list[int], buffer: int, signature: list[int] | None = None) -> Any:
    t = tfl.TensorT()
    t.name = name
    t.shape = shape
    t.shapeSignature = signature
    t.type = tfl.TensorType.FLOAT32
    t.buffer = buffer
    return t


def _buffer(data: npt.NDArray[np.float32] | None) -> Any:
    b = tfl.BufferT()
    b.data = None if data is None else np.frombuffer(data.tobytes(), dtype=np.uint8)
    return b


def mlp_to_tflite(layers: Sequence[Layer], description: str) -> bytes:
    if not layers:
        raise ValueError("an MLP needs at least one layer")
    n_in = int(layers[0][0].shape[0])
    buffers = [_buffer(None)]  # buffer 0 is the empty sentinel by convention
    tensors = [_tensor("features", [1, n_in], 0, [-1, n_in])]
    ops = []
    fc_code, sm_code = 0, 1
    prev = 0
    for i, (w, b) in enumerate(layers):
        w32 = np.ascontiguousarray(np.asarray(w, dtype=np.float32).T)  # TFLite: [out, in]
        b32 = np.asarray(b, dtype=np.float32)
        if w32.shape[1] != int(tensors[prev].shape[1]) or b32.shape != (w32.shape[0],):
            raise ValueError(f"layer {i}: weights {w.shape} / bias {b.shape} do not chain")
        buffers.append(_buffer(w32))
        tensors.append(_tensor(f"dense{i}/w", list(w32.shape), len(buffers) - 1))
        w_idx = len(tensors) - 1
        buffers.append(_buffer(b32))
        tensors.append(_tensor(f"dense{i}/b", [w32.shape[0]], len(buffers) - 1))
        b_idx = len(tensors) - 1
        last = i == len(layers) - 1
        tensors.append(
            _tensor("logits" if last else f"dense{i}/out", [1, w32.shape[0]], 0, [-1, w32.shape[0]])
        )
        out = len(tensors) - 1
        opt = tfl.FullyConnectedOptionsT()
        opt.fusedActivationFunction = (
            tfl.ActivationFunctionType.NONE if last else tfl.ActivationFunctionType.RELU
        )
        op = tfl.OperatorT()
        op.opcodeIndex = fc_code
        op.inputs = [prev, w_idx, b_idx]
        op.outputs = [out]
        op.builtinOptionsType = tfl.BuiltinOptions.FullyConnectedOptions
        op.builtinOptions = opt
        ops.append(op)
        prev = out
    n_out = int(tensors[prev].shape[1])
    tensors.append(_tensor("probabilities", [1, n_out], 0, [-1, n_out]))
    sm = tfl.OperatorT()
    sm.opcodeIndex = sm_code
    sm.inputs = [prev]
    sm.outputs = [len(tensors) - 1]
    sm.builtinOptionsType = tfl.BuiltinOptions.SoftmaxOptions
    sm_opt = tfl.SoftmaxOptionsT()
    sm_opt.beta = 1.0
    sm.builtinOptions = sm_opt
    ops.append(sm)

    graph = tfl.SubGraphT()
    graph.tensors = tensors
    graph.inputs = [0]
    graph.outputs = [len(tensors) - 1]
    graph.operators = ops
    graph.name = "main"

    codes = []
    for builtin in (tfl.BuiltinOperator.FULLY_CONNECTED, tfl.BuiltinOperator.SOFTMAX):
        c = tfl.OperatorCodeT()
        c.builtinCode = builtin
        c.deprecatedBuiltinCode = builtin
        c.version = 1
        codes.append(c)

    model = tfl.ModelT()
    model.version = 3
    model.operatorCodes = codes
    model.subgraphs = [graph]
    model.buffers = buffers
    model.description = description
    builder = flatbuffers.Builder(16 * 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_mlp(blob: bytes) -> list[Layer]:
    """The FULLY_CONNECTED (weights[in, out], bias) pairs of a .tflite, read from the
    flatbuffer without the interpreter: the independent side of the "file matches the
    numpy forward pass" check."""
    model = tfl.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    graph = model.subgraphs[0]
    layers: list[Layer] = []
    for op in graph.operators:
        if len(op.inputs) != 3:
            continue
        w_t, b_t = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
        w = np.frombuffer(bytes(model.buffers[w_t.buffer].data), np.float32).reshape(w_t.shape)
        b = np.frombuffer(bytes(model.buffers[b_t.buffer].data), np.float32)
        layers.append((w.T.copy(), b.copy()))
    return layers
