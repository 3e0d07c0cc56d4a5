"""On-device comfort: the thermal preference model, the per-member learning loop, lighting
and audio rules, and model updates.

    from agent.comfort import ComfortAdvisor, ComfortContext, Suggestion
    advisor = ComfortAdvisor.load()
    s = advisor.suggest(ctx, prefs, limits=(18.0, 27.0))

See docs/comfort.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded on first use, not with the package: `agent.comfort.lighting` (pure rules, used by
# every room) must not bring numpy and the model's runtime with it; those load when the
# comfort model does (`PreferenceResolver.create`).
_WHERE = {
    "CANDIDATES": "advisor",
    "ComfortAdvisor": "advisor",
    "Suggestion": "advisor",
    "VotePrediction": "advisor",
    "shipped_model_path": "advisor",
    "ComfortContext": "context",
    "context_status": "context",
    "learn_offset": "learner",
    "learn_vote": "learner",
    "ComfortModel": "runtime",
    "ModelLoadError": "runtime",
}

if TYPE_CHECKING:
    from agent.comfort.advisor import (
        CANDIDATES,
        ComfortAdvisor,
        Suggestion,
        VotePrediction,
        shipped_model_path,
    )
    from agent.comfort.context import ComfortContext, context_status
    from agent.comfort.learner import learn_offset, learn_vote
    from agent.comfort.runtime import ComfortModel, ModelLoadError


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.comfort' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agent.comfort.{module}"), name)


__all__ = [
    "CANDIDATES",
    "ComfortAdvisor",
    "ComfortContext",
    "ComfortModel",
    "ModelLoadError",
    "Suggestion",
    "VotePrediction",
    "context_status",
    "learn_offset",
    "learn_vote",
    "shipped_model_path",
]
