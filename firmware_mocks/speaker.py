"""An in-room speaker on a real broker, speaking the documented `smartroom/audio/<id>/...`
schema (`drivers.audio_codec`): it obeys `/set`, publishes its full state retained on
`/state`, and its availability (`online`, last will `offline`) retained.

    speaker = SpeakerSim("r101", MqttConfig(port=port))
    await speaker.start()
    await speaker.turn_knob(30)          # the guest turns the volume knob
    speaker.inject(Fault.SLOW, delay_s=3)
"""

from __future__ import annotations

from drivers.audio_codec import AudioPayloadError, decode_set, encode_state, topics
from drivers.base import MediaState
from drivers.config import MqttAudioConfig, MqttConfig
from firmware_mocks.mqtt_device import MqttDeviceSim


class SpeakerSim(MqttDeviceSim):
    def __init__(self, speaker_id: str, mqtt: MqttConfig) -> None:
        self.set_topic, self.state_topic, availability = topics(speaker_id)
        super().__init__(
            speaker_id,
            mqtt,
            availability_topic=availability,
            online=b"online",
            offline=b"offline",
            subscriptions=(self.set_topic,),
        )
        self.state = MediaState(power=False, volume_pct=20, source=None, playing=False)

    def power_on_defaults(self) -> None:
        """The amplifier boots in standby at its default volume, playing nothing."""
        self.state = MediaState(power=False, volume_pct=20, source=None, playing=False)

    def describe(self) -> str:
        return f"speaker on mqtt://{self.mqtt.host}:{self.mqtt.port}, {self.state_topic}"

    async def on_connect(self) -> None:
        await self.publish(self.state_topic, encode_state(self.state), retain=True)

    async def on_message(self, topic: str, payload: bytes) -> None:
        try:
            body = decode_set(payload)
        except AudioPayloadError:
            return  # firmware ignores what it cannot parse
        s = self.state
        power = s.power if body.power is None else body.power
        playing = s.playing if body.playing is None else body.playing
        self.state = MediaState(
            power=power,
            volume_pct=s.volume_pct if body.volume is None else body.volume,
            source=s.source if body.source is None else body.source,
            playing=playing and power,  # a speaker that is off plays nothing
        )
        await self.publish(self.state_topic, encode_state(self.state), retain=True)

    async def turn_knob(self, volume_pct: int) -> None:
        """The guest changes the volume on the device itself."""
        s = self.state
        self.state = MediaState(s.power, max(0, min(100, volume_pct)), s.source, s.playing)
        await self.publish(self.state_topic, encode_state(self.state), retain=True)


def from_config(name: str, cfg: MqttAudioConfig, mqtt: MqttConfig) -> SpeakerSim:
    """The simulator for one `[devices.<name>]` table with `driver = "mqtt_audio"`."""
    del name
    return SpeakerSim(cfg.speaker_id, mqtt)
