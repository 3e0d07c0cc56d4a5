"""The upload brake: how many events the next upload carries and how long it waits.

    brake = UploadBrake(max_batch=500, min_batch=25, timeout_s=5, max_timeout_s=30)
    brake.batch, brake.timeout_s    # what the next upload uses
    brake.timed_out()               # that upload got no answer in time
    brake.succeeded()               # it was answered

Why: when central takes longer than the timeout to answer a batch, sending the same batch
again with the same timeout only queues another copy behind the first at central, and the
room never converges (docs/sync.md, "What the chaos found"). After a timeout the batch is
halved, down to `min_batch`; once it is there, each further timeout doubles the wait
instead, up to `max_timeout_s` (a smaller batch is tried first: a longer wait also keeps a
room waiting longer on a request lost in a dead link). Each answered upload adds back
ceil(max_batch / 8) events and an eighth of the extra wait: AIMD, so a room that is slow
to be answered sends less, and returns to full batches within eight answers once central
is quick again. `min_batch = max_batch` and `max_timeout_s = timeout_s` turn it off.

Pure logic, no I/O: the batch size never changes which events go or in what order (the
oldest pending ones, in `seq` order), only how many go at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UPLOAD_BATCH = 500  # events per upload when nothing brakes


@dataclass
class UploadBrake:
    max_batch: int = UPLOAD_BATCH
    min_batch: int = 25
    timeout_s: float = 5.0  # the configured timeout: the brake never waits less
    max_timeout_s: float = 30.0
    batch: int = field(init=False)
    wait_s: float = field(init=False)  # the timeout the next upload uses

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.max_batch:
            raise ValueError("need 1 <= min_batch <= max_batch")
        if not 0 < self.timeout_s <= self.max_timeout_s:
            raise ValueError("need 0 < timeout_s <= max_timeout_s")
        self.batch = self.max_batch
        self.wait_s = self.timeout_s

    @property
    def braking(self) -> bool:
        return self.batch < self.max_batch or self.wait_s > self.timeout_s

    def timed_out(self) -> None:
        if self.batch > self.min_batch:
            self.batch = max(self.min_batch, self.batch // 2)
        else:
            self.wait_s = min(self.max_timeout_s, self.wait_s * 2)

    def succeeded(self) -> None:
        self.batch = min(self.max_batch, self.batch - (-self.max_batch // 8))  # + ceil(max / 8)
        step = (self.max_timeout_s - self.timeout_s) / 8
        left = self.wait_s - step
        # Snap to the configured timeout within half a step, and within a nanosecond's worth
        # of it whatever the step: eight float subtractions of a step only a few ULPs wide
        # may stop a few ULPs above it (the old step / 1024 did), and the brake then never
        # stopped braking.
        near = max(step / 2, 1e-9 * self.timeout_s)
        self.wait_s = self.timeout_s if left <= self.timeout_s + near else left
