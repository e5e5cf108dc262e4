"""Precision and recall of personal-data detection on the labelled corpus.

Run ``python tests/evaluate_detection.py`` (``--json`` for machine-readable
output; ``--corpus DIR`` for another corpus folder with ``profile.toml`` and
``requests/``, e.g. the held-out ``tests/corpus_heldout``). Two runs over
``tests/corpus/requests`` (or ``DIR/requests``):

* **known values**: the known-value detector with ``tests/corpus/profile.toml``;
* **patterns**: the pattern and biometric detectors without any profile.

A detection is a true positive when a label of the run has the same data
type, place (``where``) and key path (``*`` in a label matches any key).
Every other detection is a false positive; every unmatched label a miss.
Both are listed, so the figures can be checked by hand.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.decoding import decode_content
from auditor.detect import Detection, DetectionContext, Detector
from auditor.detect.biometric import BiometricDetector
from auditor.detect.known_values import KnownValueDetector
from auditor.detect.patterns import PatternDetector
from auditor.privacy import Masker
from auditor.profile import load_profile
from auditor.records import Record, RecordKind, SourceKind
from auditor.sources.common import cookies_from_headers, host_of_url

CORPUS = Path(__file__).parent / "corpus"


def load_corpus(folder: Path = CORPUS / "requests") -> list[tuple[dict[str, Any], Record]]:
    """Every corpus request with the record a capture source would make of it."""
    items = []
    for path in sorted(folder.glob("*.json")):
        item = json.loads(path.read_text(encoding="utf-8"))
        headers = tuple((str(k), str(v)) for k, v in item.get("headers", ()))
        raw = base64.b64decode(item["body_base64"]) if "body_base64" in item else item.get("body", "").encode()
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        body = decode_content(raw, encoding)
        record = Record(
            kind=RecordKind.HTTP, time=1709632800.0, source=SourceKind.HAR, host=host_of_url(item["url"]),
            content_visible=True, encrypted=True, method=item["method"], url=item["url"], request_headers=headers,
            cookies=cookies_from_headers(headers), request_body=body.data, request_content_type=content_type,
            origin=path.name,
        )
        items.append((item, record))
    return items


@dataclass
class Tally:
    """Counts for one data type."""

    true_positives: int = 0
    false_positives: int = 0
    misses: int = 0

    @property
    def precision(self) -> float | None:
        """Share of detections that were right; ``None`` when nothing was detected."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        """Share of labels that were found; ``None`` when there were no labels."""
        expected = self.true_positives + self.misses
        return self.true_positives / expected if expected else None


@dataclass
class RunResult:
    """The outcome of one run over the corpus."""

    name: str
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    def total(self) -> Tally:
        """All data types together."""
        total = Tally()
        for tally in self.by_type.values():
            total.true_positives += tally.true_positives
            total.false_positives += tally.false_positives
            total.misses += tally.misses
        return total


def _matches(label: dict[str, Any], detection: Detection) -> bool:
    return (
        label["data_type"] == detection.data_type
        and label["where"] == detection.where.value
        and (label["key"] == "*" or label["key"] == (detection.key or ""))
    )


def run(name: str, detectors: list[Detector], context: DetectionContext, by: str,
        corpus: Path = CORPUS) -> RunResult:
    """Score ``detectors`` against the labels marked ``by`` (``known`` or ``pattern``)."""
    result = RunResult(name)
    for item, record in load_corpus(corpus / "requests"):
        labels = [label for label in item["labels"] if by in label["by"]]
        detections = [d for detector in detectors for d in detector.detect(record, context)]
        matched: set[int] = set()
        for detection in detections:
            hit = next((i for i, label in enumerate(labels) if _matches(label, detection)), None)
            if hit is None:
                result.by_type[detection.data_type].false_positives += 1
                result.false_positives.append(
                    f"{item['id']}: {detection.data_type} at {detection.where.value} {detection.key!r} "
                    f"({detection.encoding}, {detection.detector})"
                )
            elif hit not in matched:
                matched.add(hit)
                result.by_type[detection.data_type].true_positives += 1
        for index, label in enumerate(labels):
            if index not in matched:
                result.by_type[label["data_type"]].misses += 1
                result.misses.append(f"{item['id']}: {label['data_type']} at {label['where']} {label['key']!r}")
    return result


def evaluate(corpus: Path = CORPUS) -> tuple[RunResult, RunResult]:
    """Both runs: known values (with the corpus profile) and patterns (without)."""
    masker = Masker(b"evaluation")
    profile = load_profile(corpus / "profile.toml")
    known = run("known values", [KnownValueDetector()],
                DetectionContext(masker, profile, frozenset(profile.device_ips)), "known", corpus)
    patterns = run("patterns (no profile)", [PatternDetector(), BiometricDetector()], DetectionContext(masker),
                   "pattern", corpus)
    return known, patterns


def _figure(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def render(result: RunResult) -> str:
    """A table per data type, then the misses and false positives."""
    lines = [f"== {result.name}", f"{'data type':<20} {'TP':>4} {'FP':>4} {'miss':>4} {'prec':>5} {'recall':>6}"]
    for data_type in sorted(result.by_type):
        t = result.by_type[data_type]
        lines.append(f"{data_type:<20} {t.true_positives:>4} {t.false_positives:>4} {t.misses:>4} "
                     f"{_figure(t.precision):>5} {_figure(t.recall):>6}")
    t = result.total()
    lines.append(f"{'ALL':<20} {t.true_positives:>4} {t.false_positives:>4} {t.misses:>4} "
                 f"{_figure(t.precision):>5} {_figure(t.recall):>6}")
    lines.append(f"misses ({len(result.misses)}):")
    lines += [f"  - {m}" for m in result.misses] or ["  (none)"]
    lines.append(f"false positives ({len(result.false_positives)}):")
    lines += [f"  - {f}" for f in result.false_positives] or ["  (none)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--corpus", type=Path, default=CORPUS, metavar="DIR",
                        help="corpus folder holding profile.toml and requests/ (default: %(default)s)")
    args = parser.parse_args(argv)
    results = evaluate(args.corpus)
    if args.json:
        print(json.dumps({r.name: {k: {"precision": v.precision, "recall": v.recall} for k, v in r.by_type.items()}
                          for r in results}, indent=1))
    else:
        print(f"{len(load_corpus(args.corpus / 'requests'))} labelled requests in {args.corpus / 'requests'}\n")
        print("\n\n".join(render(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
