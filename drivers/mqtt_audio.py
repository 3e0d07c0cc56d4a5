"""The in-room speaker over MQTT (topics and schema in `drivers.audio_codec`).

    speaker = create("speaker", MqttAudioConfig(driver="mqtt_audio", speaker_id="r101"),
                     conn, clock)
    await speaker.start()
    state = await speaker.apply(MediaCommand(power=True, volume_pct=15, source="playlist:jazz"))

Availability is the worst of the MQTT connection, the speaker's retained `availability`
(its last will says `offline`) and our own evidence (a command that no state confirmed).
"""

from __future__ import annotations

import asyncio
import contextlib

from drivers.audio_codec import (
    AudioPayloadError,
    SpeakerSet,
    confirms,
    decode_online,
    decode_state,
    encode_set,
    topics,
)
from drivers.base import (
    CapabilityName,
    CommandNotConfirmed,
    DeviceUnavailable,
    InvalidCommand,
    MediaCommand,
    MediaState,
    State,
)
from drivers.config import MqttAudioConfig
from drivers.mqtt import MqttConnection, MqttDeviceBase, MqttMessage
from smartroom.clock import Clock


class MqttSpeaker(MqttDeviceBase):
    capability: CapabilityName = "media"

    def __init__(
        self,
        name: str,
        config: MqttAudioConfig,
        connection: MqttConnection,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, connection, clock, config.timeout_s)
        self.config = config
        self.set_topic, self.state_topic, self.availability_topic = topics(config.speaker_id)
        self._state: MediaState | None = None
        self._online: bool | None = None
        self._no_answer: str | None = None
        self._expect: SpeakerSet | None = None
        self._confirmed = asyncio.Event()
        self._probe: asyncio.Task[None] | None = None

    @property
    def state(self) -> MediaState | None:
        return self._state

    def _current_state(self) -> State | None:
        return self._state

    async def start(self) -> None:
        self._follow_connection()
        await self._listen(self.availability_topic, self._on_availability)
        await self._listen(self.state_topic, self._on_state)

    async def stop(self) -> None:
        self._unsubscribe_all()
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    async def _probe_loop(self) -> None:
        # An empty `/set` asks the speaker to republish its state: retried with backoff
        # until a state arrives, so a speaker that stopped answering is found again.
        while self._no_answer is not None:
            await asyncio.sleep(self._tracker.backoff.next())
            with contextlib.suppress(DeviceUnavailable):
                await self._conn.publish(self.set_topic, b"{}")

    def _blocked_reason(self) -> str | None:
        reason = self._connection_reason()
        if reason is None and self._online is False:
            reason = "speaker reports offline"
        return reason

    def _reassess(self) -> None:
        reason = self._blocked_reason() or self._no_answer
        if reason is not None:
            self._tracker.failed(reason)
        elif self._online or self._state is not None:
            self._tracker.ok()

    def _on_availability(self, msg: MqttMessage) -> None:
        try:
            self._online = decode_online(msg.payload) if msg.payload else None
        except AudioPayloadError as exc:
            self._malformed(msg.topic, exc)
            return
        self._reassess()

    def _on_state(self, msg: MqttMessage) -> None:
        if not msg.payload:
            return
        try:
            state = decode_state(msg.payload)
        except AudioPayloadError as exc:
            self._malformed(msg.topic, exc)
            return
        self._wellformed()
        previous, self._state = self._state, state
        self._no_answer = None
        expecting = self._expect is not None
        if self._expect is not None and confirms(self._expect, state):
            self._confirmed.set()
        self._reassess()
        manual = not expecting and not msg.retain and previous is not None and previous != state
        self._emit(manual=manual)

    async def apply(self, command: MediaCommand) -> MediaState:
        try:
            payload = encode_set(command)
        except ValueError as exc:
            raise InvalidCommand(self.name, str(exc)) from None
        body = SpeakerSet.model_validate_json(payload)
        async with self._lock:
            blocked = self._blocked_reason()
            if blocked is not None:
                raise DeviceUnavailable(self.name, blocked)
            self._expect, self._confirmed = body, asyncio.Event()
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._conn.publish(self.set_topic, payload)
                    await self._confirmed.wait()
            except TimeoutError:
                self._no_answer = f"no matching state within {self.timeout_s:g} s of a command"
                self._reassess()
                if self._probe is None or self._probe.done():
                    self._probe = asyncio.get_running_loop().create_task(self._probe_loop())
                raise CommandNotConfirmed(self.name, self._no_answer) from None
            finally:
                self._expect = None
            assert self._state is not None
            return self._state


def create(
    name: str, config: MqttAudioConfig, connection: MqttConnection, clock: Clock | None = None
) -> MqttSpeaker:
    """Build the driver for one `[devices.<name>]` table with `driver = "mqtt_audio"`."""
    return MqttSpeaker(name, config, connection, clock)
