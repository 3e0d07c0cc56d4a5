"""On-device comfort: the thermal preference model, the per-member learning loop, lighting
and audio rules, and model updates.

    from agent.comfort import ComfortAdvisor, ComfortContext, Suggestion
    advisor = ComfortAdvisor.load()
    s = advisor.suggest(ctx, prefs, limits=(18.0, 27.0))

See docs/comfort.md.
"""

from agent.comfort.advisor import CANDIDATES, ComfortAdvisor, Suggestion, shipped_model_path
from agent.comfort.context import ComfortContext
from agent.comfort.learner import learn_offset
from agent.comfort.runtime import ComfortModel, ModelLoadError

__all__ = [
    "CANDIDATES",
    "ComfortAdvisor",
    "ComfortContext",
    "ComfortModel",
    "ModelLoadError",
    "Suggestion",
    "learn_offset",
    "shipped_model_path",
]
