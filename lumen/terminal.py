"""The live transcript in a terminal, as ``lumen transcribe`` prints it.

On a terminal the current partial is redrawn in place on the last line (cut
to the terminal's width) and each final is printed once with its times and
its speaker in colour.  When ``speakers.updated`` relabels finals that are
still on screen, the lines from the first relabelled one down are redrawn;
finals that scrolled away are printed again with the new speaker, marked
``(speaker corrected)``.

Anywhere else (a pipe, a file) only finals are printed, one plain line each,
and a correction prints the final again with that mark.

Colours follow the ``NO_COLOR`` convention (https://no-color.org).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, replace
from typing import TextIO

from lumen.client import Transcript

#: Foreground colours for S1, S2, … (cycled): cyan, yellow, magenta, green, blue, red, then bright.
SPEAKER_COLOURS = (36, 33, 35, 32, 34, 31, 96, 93, 95, 92, 94, 91)
DIM = "\x1b[2m"
RESET = "\x1b[0m"
CLEAR_LINE = "\r\x1b[K"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clock(seconds: float) -> str:
    """``mm:ss.ss`` (``h:mm:ss.ss`` from an hour on)."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes:02d}:{secs:05.2f}"


def local_time(unix: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in the local time zone."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix))


def speaker_colour(speaker: str) -> int:
    digits = "".join(c for c in speaker if c.isdigit())
    index = int(digits) - 1 if digits else sum(map(ord, speaker))
    return SPEAKER_COLOURS[index % len(SPEAKER_COLOURS)]


def use_colour(stream: TextIO, choice: str = "auto") -> bool:
    """``always``, ``never``, or ``auto``: a terminal and no ``NO_COLOR``."""
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


#: Lines remembered for redrawing (more than any terminal shows).
SCREEN_MEMORY = 500


@dataclass(frozen=True)
class _Line:
    """A printed final: which one, whether marked as a correction, rows it took."""

    segment_id: int
    corrected: bool
    rows: int


class LiveDisplay:
    """Prints a session's results to ``stream`` (see the module docstring)."""

    def __init__(self, stream: TextIO, interactive: bool, colour: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self.colour = colour
        self._finals: dict[int, Transcript] = {}
        self._screen: list[_Line] = []
        self._partial: Transcript | None = None

    # -- events ---------------------------------------------------------------
    def partial(self, event: Transcript) -> None:
        if self.interactive:
            self._partial = event
            self._write(CLEAR_LINE + self._partial_line(event))

    def final(self, event: Transcript) -> None:
        self._partial = None
        if not event.text:
            if self.interactive:
                self._write(CLEAR_LINE)
            return
        self._finals[event.segment_id] = event
        self._print(_Line(event.segment_id, False, 0))

    def speakers(self, labels: dict[int, str]) -> None:
        """New speakers for finals already printed."""
        changed = [segment_id for segment_id, speaker in labels.items()
                   if segment_id in self._finals and self._finals[segment_id].speaker != speaker]
        if not changed:
            return
        for segment_id in changed:
            self._finals[segment_id] = replace(self._finals[segment_id], speaker=labels[segment_id])
        first = next((i for i, line in enumerate(self._screen) if line.segment_id in changed), None)
        if self.interactive and first is not None:
            rows_up = sum(line.rows for line in self._screen[first:])
            if rows_up < self._height() - 1:
                self._redraw(first, rows_up)
                return
        for segment_id in sorted(changed):
            self._print(_Line(segment_id, True, 0))
        self._redraw_partial()

    def close(self) -> None:
        """Clear a partial left on the last line."""
        if self.interactive and self._partial is not None:
            self._write(CLEAR_LINE)
            self._partial = None

    # -- drawing --------------------------------------------------------------
    def _print(self, line: _Line) -> None:
        text = self._render(line)
        self._write((CLEAR_LINE if self.interactive else "") + text + "\n")
        self._screen.append(replace(line, rows=self._rows(text)))
        del self._screen[:-SCREEN_MEMORY]

    def _redraw(self, first: int, rows_up: int) -> None:
        """Move up to the first changed final and print everything from it again."""
        out = "\r" + (f"\x1b[{rows_up}A" if rows_up else "") + "\x1b[J"
        for i in range(first, len(self._screen)):
            text = self._render(self._screen[i])
            self._screen[i] = replace(self._screen[i], rows=self._rows(text))
            out += text + "\n"
        self._write(out)
        self._redraw_partial()

    def _redraw_partial(self) -> None:
        if self.interactive and self._partial is not None:
            self._write(CLEAR_LINE + self._partial_line(self._partial))

    def _render(self, line: _Line) -> str:
        event = self._finals[line.segment_id]
        times = f"[{clock(event.start)} → {clock(event.end)}]"
        speaker = f" {self._speaker(event.speaker)}:" if event.speaker else ""
        mark = self._dim(" (speaker corrected)") if line.corrected else ""
        return f"{self._dim(times)}{speaker} {event.text}{mark}"

    def _partial_line(self, event: Transcript) -> str:
        prefix = f"[{clock(event.start)} → …] "
        room = max(10, self._width() - len(prefix) - 1)
        text = event.text if len(event.text) <= room else "…" + event.text[-(room - 1):]
        return self._dim(prefix + text)

    def _speaker(self, speaker: str) -> str:
        if not self.colour:
            return speaker
        return f"\x1b[1;{speaker_colour(speaker)}m{speaker}{RESET}"

    def _dim(self, text: str) -> str:
        return f"{DIM}{text}{RESET}" if self.colour else text

    def _rows(self, line: str) -> int:
        """Terminal rows ``line`` takes once wrapped."""
        return max(1, math.ceil(len(_ANSI.sub("", line)) / self._width()))

    def _width(self) -> int:
        return shutil.get_terminal_size().columns

    def _height(self) -> int:
        return shutil.get_terminal_size().lines

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
