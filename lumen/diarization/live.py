"""Speaker labels for a live session's transcript: the glue between diarizer and session.

:class:`LiveSpeakers` takes the same 16 kHz audio and VAD events as the
recognizer, keeps diarization updates running in the :class:`Diarizer`'s
pool (one at a time per session, never awaited by the text path), and
answers four questions for the session:

* :meth:`split` — a final's words cut into runs of one speaker each (a
  segment spanning a speaker change becomes two finals, split at the word
  boundary);
* :meth:`label` — the speaker of each word (by its middle) and of the
  segment (the one who says most of its word time);
* :meth:`timeline_changes` — the live speaker timeline's changes, for
  ``speakers.turns`` (who spoke when, on the diarizer's own boundaries,
  independent of whisper's word times);
* :meth:`corrections` — finals already sent whose speakers a later
  re-clustering changed (of the segment or of any word: a speaker change
  the diarizer had not yet heard when the final went out is corrected word
  by word), or that went out before their audio had a speaker (the first
  finals of a session, before the first clustering), for ``speakers.updated``.

Thread-safety: everything here runs on the IOLoop; the diarizer's update
runs in its pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from lumen.asr.engine import Word
from lumen.audio.vad import VadEvent
from lumen.protocol import t
from lumen.diarization.diarizer import Diarizer, SessionDiarizer
from lumen.diarization.feed import SpeechFeed
from lumen.diarization.tracker import LabelChange, Turn, most_talk

log = logging.getLogger(__name__)

#: Finals remembered for corrections; older ones are past any re-clustering's reach.
MAX_REMEMBERED_FINALS = 2000

Span = tuple[float, float]


@dataclass
class _Sent:
    """A final as sent: its words' spans and their speakers."""

    spans: list[Span]
    speakers: list[str | None]


class LiveSpeakers:
    """See the module docstring.  ``on_changes`` receives each update's label changes."""

    def __init__(self, service: Diarizer, session: SessionDiarizer,
                 on_changes: Callable[[list[LabelChange]], None]) -> None:
        self._service = service
        self._session = session
        self._feed = SpeechFeed(session)
        self._on_changes = on_changes
        self._update: asyncio.Future[list[LabelChange]] | None = None
        self._pending = False
        self._finishing = False  # finish() called: no update may start (it would overlap the last labelling)
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        # Finals whose label changed between labelling and sending (an update
        # finished while the final was being stored): checked at the next call.
        self._stale: set[int] = set()
        self._shown: list[Turn] = []  # the timeline as timeline_changes last returned it
        self._shown_revision = -1  # and the diarizer's revision then

    # -- audio in -------------------------------------------------------------
    def feed(self, audio: np.ndarray, events: Sequence[VadEvent]) -> None:
        self._feed.feed(audio, events)
        self._schedule()

    def flush(self, events: Sequence[VadEvent]) -> None:
        self._feed.flush(events)

    def _schedule(self) -> None:
        """Start an update unless one runs; if one runs, start another when it ends."""
        if self._finishing:
            return
        if self._update is not None:
            self._pending = True
            return
        self._pending = False
        self._update = asyncio.ensure_future(self._service.update(self._session))
        self._update.add_done_callback(self._updated)

    def _updated(self, future: asyncio.Future[list[LabelChange]]) -> None:
        self._update = None
        if future.cancelled():
            return
        if future.exception() is not None:
            log.error("diarization update failed: %r", future.exception())
            return
        # Even without changes: the first labelling reports none (there was
        # nothing to change), yet finals sent unlabelled before it now have a speaker.
        self._on_changes(future.result())
        if self._pending:
            self._schedule()

    async def finish(self) -> list[LabelChange]:
        """Wait for the running update, then label everything one last time."""
        self._finishing, self._pending = True, False
        if self._update is not None:
            try:
                await self._update
            except Exception:  # already logged by _updated
                pass
        return await self._service.finish(self._session)

    def cancel(self) -> None:
        """Stop: the running update's result is dropped, no further update starts."""
        self._pending = False
        if self._update is not None:
            self._update.cancel()

    # -- labels out -----------------------------------------------------------
    def label(self, spans: Sequence[Span]) -> tuple[str | None, list[str | None]]:
        """(the segment's speaker, each word's) for words at ``spans``; None before any labelling."""
        speakers = self._word_speakers(spans)
        return _majority(spans, speakers), speakers

    def _word_speakers(self, spans: Sequence[Span]) -> list[str | None]:
        return [self._session.speaker((a + b) / 2, (a + b) / 2) for a, b in spans]

    def split(self, words: list[Word]) -> list[list[Word]]:
        """Consecutive runs of ``words`` with one speaker each (by each word's middle)."""
        groups: list[list[Word]] = []
        current: str | None = None
        for word, speaker in zip(words, self._word_speakers([(w.start, w.end) for w in words])):
            if not groups or (speaker != current and speaker is not None and current is not None):
                groups.append([])
            groups[-1].append(word)
            current = speaker if speaker is not None else current
        return groups

    def timeline(self, offset: float = 0.0) -> list[dict[str, object]]:
        """Who spoke when, over the session's speech: ``[{start, end, speaker}]``
        (after :meth:`finish`), times shifted by ``offset`` (a resumed session's)."""
        return _wire(self._session.timeline(), offset)

    def voices(self) -> dict[str, np.ndarray]:
        """Each speaker's voiceprint (label -> centroid) as of the last update, for a resumed
        connection; the same object until an update changes it."""
        return self._session.voices()

    def timeline_changes(self, offset: float = 0.0) -> tuple[float, list[dict[str, object]]] | None:
        """What changed in the timeline since the last call, for ``speakers.turns``:
        ``(since, turns)``, the turns from the first one that differs on (those
        before ``since`` are as last returned); None when nothing changed.

        Call it from ``on_changes``, which runs when no update does: a turn
        changes only when an update labels a new window or renames old ones.
        """
        if self._session.revision == self._shown_revision:
            return None  # (most updates: no new window yet)
        self._shown_revision = self._session.revision
        now = self._session.timeline()
        shown = self._shown
        k = 0
        while k < len(now) and k < len(shown) and now[k] == shown[k]:
            k += 1
        if k == len(now) == len(shown):
            return None
        self._shown = now
        since = min(turns[k][0] for turns in (now, shown) if k < len(turns))
        return t(offset + since), _wire(now[k:], offset)

    def sent(self, segment_id: int, spans: list[Span], speakers: list[str | None]) -> None:
        """Remember a final (its words' spans and the speakers it was sent with) for corrections."""
        self._sent[segment_id] = _Sent(spans, speakers)
        if self._word_speakers(spans) != speakers:
            self._stale.add(segment_id)
        while len(self._sent) > MAX_REMEMBERED_FINALS:
            self._sent.popitem(last=False)

    def corrections(self, changes: list[LabelChange]) -> list[dict[str, object]]:
        """``speakers.updated`` entries for sent finals whose speakers are now
        different: those ``changes`` touch, those sent without a speaker, and
        stale ones.  Each names the segment's speaker and every word's."""
        updated: list[dict[str, object]] = []
        stale, self._stale = self._stale, set()
        for segment_id, final in self._sent.items():
            start, end = final.spans[0][0], final.spans[-1][1]
            if (None not in final.speakers and segment_id not in stale
                    and not any(c.start < end and start < c.end for c in changes)):
                continue
            now = self._word_speakers(final.spans)
            if None not in now and now != final.speakers:
                final.speakers = now
                updated.append({"segment_id": segment_id, "speaker": _majority(final.spans, now),
                                "word_speakers": now})
        return updated


def _wire(turns: Sequence[Turn], offset: float) -> list[dict[str, object]]:
    return [{"start": t(offset + start), "end": t(offset + end), "speaker": name} for start, end, name in turns]


def _majority(spans: Sequence[Span], speakers: Sequence[str | None]) -> str | None:
    """The speaker with the most word time (the first of them on a tie); None if nobody."""
    # (1 µs more per word: a zero-length word still counts)
    return most_talk((a, b + 1e-6, speaker) for (a, b), speaker in zip(spans, speakers)
                     if speaker is not None)
