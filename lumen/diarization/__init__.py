"""Live speaker diarization: GE2E embeddings, NeMo NME-SC clustering, stable speaker names.

Typical use from a live session::

    diarizer = Diarizer(DiarizationOptions(), max_workers=settings.diarization_workers)
    session = diarizer.session(num_speakers=None)
    session.add_speech(start_seconds, float32_audio)   # for each VAD speech piece
    session.end_speech()                               # at each VAD speech end
    changes = await diarizer.update(session)           # now and then, one at a time
    session.speaker_turns(seg_start, seg_end)          # names for a final/partial
    changes = await diarizer.finish(session)           # end of stream

See ``docs/diarization.md`` for the method, options and measured accuracy.
"""

from lumen.diarization.diarizer import Diarizer, SessionDiarizer
from lumen.diarization.embedder import SpeakerEmbedder
from lumen.diarization.options import DiarizationOptions
from lumen.diarization.tracker import LabelChange, Turn

__all__ = ["Diarizer", "SessionDiarizer", "SpeakerEmbedder", "DiarizationOptions", "LabelChange", "Turn"]
