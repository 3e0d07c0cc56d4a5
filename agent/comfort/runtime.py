"""Run a comfort .tflite with the TFLite interpreter (LiteRT; tflite-runtime as fallback).

    model = ComfortModel.from_bytes(Path("models/comfort.tflite").read_bytes())
    probs = model.predict(x)          # x: (n, N_FEATURES) float32 -> (n, 3) rows summing to 1

The model file carries its own FeatureSpec (JSON in the flatbuffer's `description`), read
here with plain `flatbuffers` so the runtime needs neither TensorFlow nor the schema module.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any, Final

import flatbuffers
import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from agent.comfort.features import N_FEATURES, FeatureSpec

MAX_MODEL_BYTES: Final = 1_048_576
_MODEL_DESCRIPTION_SLOT: Final = 4 + 2 * 3  # vtable offset of Model.description (field 3)


class ModelLoadError(ValueError):
    """The bytes are not a comfort model this agent can run."""


def _make_interpreter(blob: bytes) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - only where LiteRT has no wheel
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    # No default delegate: XNNPACK pays off for large convolutions, not a 7 KB MLP; without it
    # the model loads faster, uses less memory, and nothing is printed on stderr at each load.
    return Interpreter(
        model_content=blob,
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def read_description(blob: bytes) -> str:
    """The Model.description string of a .tflite flatbuffer."""
    if len(blob) < 16 or blob[4:8] != b"TFL3":
        raise ModelLoadError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    try:
        buf = bytearray(blob)
        root = flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0)
        table = flatbuffers.table.Table(buf, root)
        slot = table.Offset(_MODEL_DESCRIPTION_SLOT)
        if not slot:
            raise ModelLoadError("model has no description: not a Smartroom comfort model")
        return bytes(table.String(slot + table.Pos)).decode("utf-8")
    except (
        IndexError,
        TypeError,
        OverflowError,
        UnicodeDecodeError,
        ValueError,
        struct.error,
    ) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(f"corrupt flatbuffer: {exc}") from exc


class ComfortModel:
    """One loaded model: its interpreter, its spec and the sha256 of its bytes."""

    def __init__(self, interpreter: Any, spec: FeatureSpec, sha256: str, size: int) -> None:
        self._interp = interpreter
        self.spec = spec
        self.sha256 = sha256
        self.size_bytes = size
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._batch = 0

    @classmethod
    def from_bytes(cls, blob: bytes) -> ComfortModel:
        if len(blob) > MAX_MODEL_BYTES:
            raise ModelLoadError(f"model is {len(blob)} bytes, over the {MAX_MODEL_BYTES} limit")
        try:
            spec = FeatureSpec.model_validate(json.loads(read_description(blob)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ModelLoadError(f"model's feature spec is invalid: {exc}") from exc
        try:
            spec.check()
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
        try:
            interp = _make_interpreter(bytes(blob))
            interp.allocate_tensors()
            inputs, outputs = interp.get_input_details(), interp.get_output_details()
        # A damaged file can fail anywhere in the interpreter's Python layer, e.g. decoding a
        # tensor name: every such failure means "not loadable", never a crash of the agent.
        except (ValueError, RuntimeError, UnicodeDecodeError, IndexError, KeyError) as exc:
            raise ModelLoadError(f"the TFLite interpreter refused the model: {exc}") from exc
        shapes = [tuple(int(d) for d in t["shape"]) for t in (*inputs, *outputs)]
        if (
            len(inputs) != 1
            or len(outputs) != 1
            or shapes[0][-1:] != (N_FEATURES,)
            or shapes[1][-1:] != (len(spec.classes),)
            or any(t["dtype"] != np.float32 for t in (*inputs, *outputs))
        ):
            raise ModelLoadError(
                f"model maps {shapes[:1]} -> {shapes[1:]}, expected (n, {N_FEATURES}) float32 "
                f"-> (n, {len(spec.classes)}) float32"
            )
        return cls(interp, spec, hashlib.sha256(blob).hexdigest(), len(blob))

    def predict(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class probabilities (n × 3) for a feature matrix, in one interpreter call."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be (n, {N_FEATURES}), got {x.shape}")
        n = int(x.shape[0])
        if n == 0:
            return np.zeros((0, len(self.spec.classes)), dtype=np.float32)
        if n != self._batch:
            self._interp.resize_tensor_input(self._input, [n, N_FEATURES], strict=False)
            self._interp.allocate_tensors()
            self._batch = n
        self._interp.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
        self._interp.invoke()
        return np.array(self._interp.get_tensor(self._output), dtype=np.float32)

    def self_test(self) -> None:
        """Refuse a model that gives non-probabilities on a fixed batch of plausible rooms."""
        from agent.comfort.features import RawFeatures, encode

        raw = RawFeatures.broadcast(
            17,
            indoor_c=np.arange(19.0, 27.5, 0.5),
            humidity_pct=50.0,
            outdoor_c=25.0,
            running_mean_c=22.0,
            season=0.0,
            koppen="Cfa",
            cooling=1.0,
            age_band=None,
            gender=None,
        )
        try:
            p = self.predict(encode(raw, self.spec))
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"self-test failed: the interpreter could not run: {exc}") from exc
        if (
            p.shape != (17, 3)
            or not np.all(np.isfinite(p))
            or np.any(p < 0)
            or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
        ):
            raise ModelLoadError("self-test failed: the model's outputs are not probabilities")
        # A comfort model must at least say "cooler" is likelier at 27 °C than at 19 °C.
        if not p[-1, 0] > p[0, 0]:
            raise ModelLoadError("self-test failed: 'cooler' is not likelier when warmer")
