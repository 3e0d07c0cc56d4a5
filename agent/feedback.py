"""Learning from the guest's changes: the setpoint through the comfort resolver (model
advisor or the simple offset learner), lighting and audio through agent.comfort.lighting.

    prefs, events = learn(changes, prefs, stay, resolver=resolver, inputs=inputs,
                          values=values, tz=tz)
    store.put_preferences(prefs, dirty=True)    # with the step's commit

A change held for the rest of the stay is decide()'s business (the manual layer); this
module only moves the member's stored starting point for next time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from agent.comfort.lighting import learn_audio, learn_lighting, suggest_audio, suggest_lighting
from agent.decide import ManualChange
from agent.preferences import ComfortInputs, PreferenceResolver
from agent.store import NewEvent
from drivers.base import ClimateMode, ClimateState, LightState, MediaState
from scenes.engine import PreferenceValues
from sync.wire import EventKind, MemberPreferences, StayAssignment

SETPOINT_STEP_C = 0.25  # a change smaller than this says nothing about comfort


def learn(
    changes: Sequence[ManualChange],
    prefs: MemberPreferences | None,
    stay: StayAssignment | None,
    *,
    resolver: PreferenceResolver,
    inputs: ComfortInputs,
    values: PreferenceValues,
    tz: tzinfo,
) -> tuple[MemberPreferences | None, list[NewEvent]]:
    """The member's preferences after these changes (None: nothing learnt), and the
    PREFERENCE_LEARNED events that say what moved."""
    if stay is None or not changes:
        return None, []
    current = prefs or MemberPreferences(member_id=stay.member_id)
    events: list[NewEvent] = []
    learnt = False
    for change in changes:
        state = change.state
        local = change.at.astimezone(tz)
        payload: dict[str, object] | None = None
        if isinstance(state, ClimateState):
            if state.mode is ClimateMode.OFF:
                continue
            suggested_c = values.setpoint_c
            if abs(state.setpoint_c - suggested_c) < SETPOINT_STEP_C:
                continue
            current = resolver.learn(
                current, inputs, suggested_c=suggested_c, chosen_c=state.setpoint_c
            )
            payload = {
                "comfort_offset": current.comfort_offset.model_dump(mode="json"),
                "suggested_c": suggested_c,
                "chosen_c": state.setpoint_c,
            }
        elif isinstance(state, LightState):
            if not state.on:
                continue  # switching off says when, not how bright
            before = current.lighting
            lighting = learn_lighting(
                before,
                suggest_lighting(local, before),
                level_pct=state.level_pct,
                colour_temp_k=state.colour_temp_k,
                at=change.at,
            )
            if lighting == before:
                continue
            current = current.model_copy(update={"lighting": lighting})
            payload = {"lighting": lighting.model_dump(mode="json"), "chosen": state.level_pct}
        elif isinstance(state, MediaState):
            if not state.power:
                continue
            before_audio = current.audio
            audio = learn_audio(
                before_audio,
                suggest_audio(local, before_audio),
                volume_pct=state.volume_pct,
                at=change.at,
            )
            if audio == before_audio:
                continue
            current = current.model_copy(update={"audio": audio})
            payload = {"audio": audio.model_dump(mode="json"), "chosen": state.volume_pct}
        if payload is None:
            continue
        learnt = True
        events.append(
            NewEvent(
                EventKind.PREFERENCE_LEARNED,
                payload,
                stay_id=stay.stay_id,
                member_id=stay.member_id,
            )
        )
    return (current if learnt else None), events
