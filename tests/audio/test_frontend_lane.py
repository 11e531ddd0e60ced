"""The session's off-loop front end (lumen/audio/frontend_lane.py): order, actions, tail."""

from __future__ import annotations

import asyncio
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lumen.audio.frontend import clean
from lumen.errors import FrontEndError
from lumen.audio.frontend_lane import FrontEndLane


def test_lane_keeps_order_runs_actions_in_place_and_delivers_the_tail(testdata):
    with wave.open(str(testdata / "jfk.wav")) as wav:
        audio = np.frombuffer(wav.readframes(3 * 16000), "<i2").astype(np.float32) / 32768
    delivered: list[np.ndarray] = []
    seen_by_action: list[int] = []

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as pool:  # two workers: order must not depend on one
            lane = FrontEndLane(pool, delivered.append, lambda exc: None)
            bounds = [0, 1, 2000, 2001, 8000, 16000, 30000, audio.size]
            for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
                lane.push(audio[a:b])
                if i == 3:
                    lane.then(lambda: seen_by_action.append(len(delivered)))
            assert lane.queued_samples > 0
            await lane.finish()
            assert lane.queued_samples == 0
            await lane.finish()  # idempotent: no second tail

    asyncio.run(scenario())
    assert seen_by_action == [4]  # after the four chunks queued before it
    assert len(delivered) == 8  # seven chunks and the tail
    np.testing.assert_array_equal(np.concatenate(delivered), clean(audio))


def test_lane_reports_a_failure_once_and_drops_later_audio():
    failures: list[BaseException] = []

    async def scenario() -> None:
        lane = FrontEndLane(None, lambda out: None, failures.append)
        lane.push(np.zeros((4, 2), dtype=np.float32))  # not mono: the front end refuses it
        lane.push(np.zeros(160, dtype=np.float32))
        await lane.finish()

    asyncio.run(scenario())
    assert len(failures) == 1 and isinstance(failures[0], FrontEndError)
