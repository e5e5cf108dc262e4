"""Typed-text capture: text sent while it was being typed, one request per key press.

Session-replay, form-analytics and lead-capture scripts send what a student
types before the form is submitted; a search box's typeahead does the same.
On the wire it shows as successive requests to one service whose same field
holds a growing prefix of one text: ``search=I``... ``search=IdaaaaT``...
``search=IdaaaaTarbell``. This detector follows every text field per
destination and concludes once per destination and field, with the number of
keystrokes seen. Whether it is a problem depends on who received it (a rule
in auditor/rules/default.toml decides: high for a third party, a note for the
app's own typeahead).

State is bounded: the last value of at most :data:`MAX_TRACKED` fields and at
most :data:`MAX_CAPTURES` concluded captures are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.detect import Conclusion, CrossRequestDetector, Detection, DetectionContext, Where
from auditor.detect.fields import iter_fields
from auditor.detect.known_values import KnownValueIndex
from auditor.profile import DeviceProfile
from auditor.records import Record

MIN_KEYSTROKES = 3
"""Growth steps (requests after the first) before a run counts as typing, not chance."""
MIN_LENGTH = 4
"""Shortest final text reported: shorter growth is often a counter or a page number."""
MAX_STEP = 3
"""Most characters one request may add to the last (fast typing, autocomplete debouncing)."""
MAX_TEXT = 256
"""Longer values are documents or tokens, not typed text."""
MAX_TRACKED = 4096
"""Fields followed at once; the oldest is forgotten beyond this."""
MAX_CAPTURES = 512
"""Distinct captures (destination, field and text) kept."""
_TEXT_PLACES = frozenset({Where.QUERY, Where.BODY, Where.PATH})


@dataclass
class _Run:
    """The growing text of one field at one destination."""

    last: str
    first_seen: float
    encrypted: bool
    steps: int = 0
    """Requests whose value grew past every earlier one (key presses seen after the first)."""
    requests: int = 1
    longest: int = 0

    @property
    def typed(self) -> bool:
        return self.steps >= MIN_KEYSTROKES and len(self.last) >= MIN_LENGTH


@dataclass
class _Capture:
    """Typing runs of one field at one destination, merged: the longest run names the text."""

    text: str
    keystrokes: int
    first_seen: float
    encrypted: bool
    requests: int

    @classmethod
    def of(cls, run: _Run) -> _Capture:
        return cls(run.last, run.steps + 1, run.first_seen, run.encrypted, run.requests)

    def merged(self, run: _Run) -> _Capture:
        longer = run.steps + 1 > self.keystrokes
        return _Capture(
            run.last if longer else self.text, max(self.keystrokes, run.steps + 1),
            min(self.first_seen, run.first_seen), self.encrypted and run.encrypted, self.requests + run.requests,
        )


def _merge(found: list[_Capture], run: _Run, room: bool) -> bool:
    """Add ``run`` to the capture of the same text (retyped, or typed further), or as a new one if there is room."""
    typed = run.last.casefold()
    for index, capture in enumerate(found):
        text = capture.text.casefold()
        if text.startswith(typed) or typed.startswith(text):
            found[index] = capture.merged(run)
            return True
    if room:
        found.append(_Capture.of(run))
    return room


class TypedTextDetector(CrossRequestDetector):
    """Finds text sent key press by key press to the same service and field."""

    name = "typed-text"

    def __init__(self) -> None:
        self._runs: dict[tuple[str, Where, str], _Run] = {}
        self._captures: dict[tuple[str, Where, str], list[_Capture]] = {}
        """Per field, one capture per distinct text (session-replay scripts send every field under one key)."""
        self._index: KnownValueIndex | None = None
        self.cap_note = None

    def observe(self, record: Record, destination: str, company: str | None, context: DetectionContext) -> None:
        if not record.content_visible:
            return
        for item in iter_fields(record):
            if item.parsed or item.where not in _TEXT_PLACES or not item.key:
                continue
            text = item.value  # not stripped: a space is a key press too
            if not text.strip() or len(text) > MAX_TEXT:
                continue
            key = (destination, item.where, item.key)
            run = self._runs.get(key)
            if run is None:
                self._start(key, _Run(text, record.time, record.encrypted, longest=len(text)))
                continue
            previous = run.last
            if text == previous:
                run.requests += 1  # sent again unchanged (a timer, another event): one more request carrying it
                continue
            if text.casefold().startswith(previous.casefold()) and len(text) - len(previous) <= MAX_STEP:
                if len(text) > run.longest:  # a value that only comes back after a backspace is no new key press
                    run.steps += 1  # one more key press (or a few, when requests are debounced)
                    run.longest = len(text)
            elif len(previous) - len(text) > MAX_STEP or not previous.casefold().startswith(text.casefold()):
                # Other text, or the field cleared and typed again: a new run (a backspace or two keeps this one).
                self._end(key, run)
                self._start(key, _Run(text, record.time, record.encrypted, longest=len(text)))
                continue
            run.last = text
            run.requests += 1
            run.encrypted = run.encrypted and record.encrypted

    def _start(self, key: tuple[str, Where, str], run: _Run) -> None:
        self._runs.pop(key, None)
        if len(self._runs) >= MAX_TRACKED:
            oldest = next(iter(self._runs))
            self._end(oldest, self._runs.pop(oldest))  # forget the field seen longest ago, keeping its typing
            self.cap_note = f"more than {MAX_TRACKED} text fields at once: the oldest were no longer followed"
        self._runs[key] = run

    def _end(self, key: tuple[str, Where, str], run: _Run) -> None:
        if not run.typed:
            return
        if not _merge(self._captures.setdefault(key, []), run, self._capture_count() < MAX_CAPTURES):
            self.cap_note = f"more than {MAX_CAPTURES} typed texts: later ones are not reported"

    def _capture_count(self) -> int:
        return sum(len(found) for found in self._captures.values())

    def conclude(self, context: DetectionContext) -> list[Conclusion]:
        # Runs still growing count too, without ending them: a live session concludes again later.
        captures = {key: list(found) for key, found in self._captures.items()}
        room = MAX_CAPTURES - self._capture_count()
        for key, run in self._runs.items():
            if run.typed and _merge(captures.setdefault(key, []), run, room > 0):
                room -= 1
        conclusions = []
        for (destination, where, field_key), found in captures.items():
            for capture in found:
                detection = self._detection(capture, where, field_key, destination, context)
                conclusions.append(Conclusion(destination, detection, capture.encrypted, capture.first_seen,
                                              capture.requests))
        return conclusions

    def _detection(
        self, capture: _Capture, where: Where, key: str, destination: str, context: DetectionContext
    ) -> Detection:
        text, keystrokes = capture.text, capture.keystrokes
        label = None
        value, data_type, transform = text, "other_identifier", ""
        profile = context.profile
        if isinstance(profile, DeviceProfile):
            if self._index is None or self._index.profile is not profile:
                self._index = KnownValueIndex(profile)
            variants = self._index.match_text(text)
            if variants:
                known = variants[0].known
                label, data_type, value = known.label, known.data_type, known.value  # one fingerprint per value
                if variants[0].transform != known.label:
                    transform = variants[0].transform
        what = f"profile value {label}" if label else "text typed into a field"
        reason = (
            f"Text captured as it was typed: {destination} received the field '{context.safe_key(key)}' "
            f"{keystrokes} times, a little longer after each key press, before anything was submitted "
            f"({what}; typed-text detector)."
        )
        return context.detection(
            data_type, where, key, value, self.name,
            encoding=">".join(("typed", transform)) if transform else "typed",
            confidence=1.0 if label else 0.8, known_value=label is not None,
            detail=f"{what}, typed: {keystrokes} keystrokes seen", reason=reason,
        )
