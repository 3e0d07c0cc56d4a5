"""On-device comfort: the thermal preference model, the per-member learning loop, lighting
and audio rules, and model updates.

    from agent.comfort import ComfortAdvisor, ComfortContext, Suggestion
    advisor = ComfortAdvisor.load()
    s = advisor.suggest(ctx, prefs, limits=(18.0, 27.0))

See docs/comfort.md.
"""

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
