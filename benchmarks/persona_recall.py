"""Recall of planted values per form, measured in real traffic (the shared Blacklight HARs).

    .venv/bin/python benchmarks/persona_recall.py                       # ../shared/captures/themarkup-*.har
    .venv/bin/python benchmarks/persona_recall.py --markdown FILE.har ...

Every request of the files that has a query parameter or a form/JSON body
field gets, in turn, each planted value of Blacklight's persona written in one
form (run together, surname first, escaped, hashed as advertisers document...)
in place of one of its existing values, under the key that was there (a
first-party search box, an ad pixel's ``pd``...): once as the whole value, once
inside a sentence ("Note from ... at 3pm"). Recall is the
share of those requests in which the known-value detector reports that
profile value. The untouched files are scanned too: any persona value found
there, and any text reported as typed outside plannedparenthood.org, is
counted as a false match. Nothing is sent anywhere; the files are only read.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auditor.detect import DetectionContext  # noqa: E402
from auditor.detect.known_values import KnownValueDetector  # noqa: E402
from auditor.detect.typed_text import TypedTextDetector  # noqa: E402
from auditor.privacy import Masker  # noqa: E402
from auditor.profile import parse_profile  # noqa: E402
from auditor.records import Record, RecordKind  # noqa: E402
from auditor.sources import ReadOptions, describe_input, read_input  # noqa: E402

# The crawler's persona, as published in the-markup/blacklight-collector src/pptr-utils/interaction-utils.ts.
PERSONA = {
    "first_name": "Idaaaa", "last_name": "Tarbell", "email": "blacklight-headless@themarkup.org",
    "username": "idaaaa_tarbell", "password": "SUPERS3CR3T_PASSWORD", "phone": "+1971112233",
    "address": "PO Box #1103",
}
EMAIL = PERSONA["email"]


def _hash(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()


# (form, profile key expected, the value as written on the wire)
FORMS: list[tuple[str, str, Callable[[], str]]] = [
    ("as written: first name", "first_name", lambda: "Idaaaa"),
    ("as written: e-mail", "email", lambda: EMAIL),
    ("run together: IdaaaaTarbell", "full_name", lambda: "IdaaaaTarbell"),
    ("surname first: Tarbell, Idaaaa", "full_name", lambda: "Tarbell, Idaaaa"),
    ("initial and surname: I. Tarbell", "full_name", lambda: "I. Tarbell"),
    ("upper case: IDAAAA TARBELL", "full_name", lambda: "IDAAAA TARBELL"),
    ("accent added: Idäaaa Tarbell", "full_name", lambda: "Idäaaa Tarbell"),
    ("doubled space", "full_name", lambda: "Idaaaa  Tarbell"),
    ("in a sentence: Welcome back Idaaaa!", "first_name", lambda: "Welcome back Idaaaa!"),
    ("URL-escaped twice", "email", lambda: quote(quote(EMAIL, safe=""), safe="")),
    ("HTML entity", "full_name", lambda: "Idaaaa&nbsp;Tarbell"),
    ("unicode escape", "first_name", lambda: "Id\\u0061aaa"),
    ("phone E.164: +1971112233", "phone", lambda: "+1971112233"),
    ("phone digits: 1971112233", "phone", lambda: "1971112233"),
    ("phone national: 971112233", "phone", lambda: "971112233"),
    ("phone written: +1 (971) 112-233", "phone", lambda: "+1 (971) 112-233"),
    ("SHA-256 of e-mail (Meta, Google, TikTok, Snap, Pinterest)", "email", lambda: _hash("sha256", EMAIL)),
    ("SHA-1 of e-mail (Pinterest)", "email", lambda: _hash("sha1", EMAIL)),
    ("MD5 of e-mail (Pinterest)", "email", lambda: _hash("md5", EMAIL)),
    ("SHA-256 of phone digits (Meta, Snap)", "phone", lambda: _hash("sha256", "1971112233")),
    ("SHA-256 of E.164 phone (Google, TikTok)", "phone", lambda: _hash("sha256", "+1971112233")),
    ("SHA-256 of lower-case surname (Meta ln)", "last_name", lambda: _hash("sha256", "tarbell")),
    ("base64 of e-mail", "email", lambda: base64.b64encode(EMAIL.encode()).decode()),
    ("base64 of JSON holding the name", "full_name",
     lambda: base64.b64encode(b'{"name":"IdaaaaTarbell"}').decode()),
    ("address, punctuation dropped: PO Box 1103", "address", lambda: "PO Box 1103"),
    ("password as written", "password", lambda: PERSONA["password"]),
    # Forms the detector is not built for, listed so the table shows where it stops.
    ("e-mail local part alone: blacklight-headless", "email", lambda: EMAIL.split("@")[0]),
    ("name with a typo: Idaaa Tarbel", "full_name", lambda: "Idaaa Tarbel"),
    ("SHA-256 of e-mail with a salt", "email", lambda: _hash("sha256", "salt:" + EMAIL)),
]


def _records(paths: list[Path]) -> list[Record]:
    records: list[Record] = []
    for path in paths:
        summary = describe_input(path)
        records += [r for r in read_input(path, ReadOptions(), summary) if r.kind is RecordKind.HTTP and r.url]
    return records


def _planted(record: Record, value: str) -> Record | None:
    """``record`` with the value of its last query parameter replaced by ``value`` (None without a query)."""
    parts = urlsplit(record.url or "")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not pairs:
        return None
    pairs[-1] = (pairs[-1][0], value)
    return dataclasses.replace(record, url=urlunsplit(parts._replace(query=urlencode(pairs))))


def main() -> int:
    default = sorted((REPO.parent / "shared" / "captures").glob("themarkup-*.har"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=default)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if not args.files:
        print("no input files (the shared captures are not there); pass HAR files", file=sys.stderr)
        return 2
    profile = parse_profile({"student": PERSONA})
    context = DetectionContext(Masker(b"recall"), profile)
    detector = KnownValueDetector()
    records = _records(args.files)

    # Blacklight itself typed the persona into plannedparenthood.org's search box: those are true matches.
    untouched = [(r.host or "", d) for r in records for d in detector.detect(r, context) if d.known_value]
    true_matches = sum(1 for host, _ in untouched if host.endswith("plannedparenthood.org"))
    false_matches = len(untouched) - true_matches
    typed = TypedTextDetector()
    for record in records:
        typed.observe(record, record.host or "", None, context)
    typed_elsewhere = [c for c in typed.conclude(context) if "plannedparenthood" not in c.destination]

    rows = []
    for form, label, make in FORMS:
        counts = []
        for value in (make(), f"Note from {make()} at 3pm"):  # the whole value, then inside free text
            tried = found = 0
            for record in records:
                planted = _planted(record, value)
                if planted is None:
                    continue
                tried += 1
                details = {d.detail for d in detector.detect(planted, context)}
                found += f"profile value {label}" in details
            counts.append((found, tried))
        rows.append((form, label, counts))

    print(f"{len(records)} HTTP requests in {len(args.files)} files; value planted in the last query parameter "
          f"of each request that has one")
    print(f"untouched files: {true_matches} persona values where Blacklight typed them (plannedparenthood.org), "
          f"{false_matches} anywhere else (false matches); "
          f"{len(typed_elsewhere)} typed-text captures outside plannedparenthood.org")
    if args.markdown:
        print("\n| Form on the wire | Profile key | Recall, whole value | Recall, inside free text |\n"
              "| --- | --- | --- | --- |")
    for form, label, counts in rows:
        shares = [f"{found / tried:.1%} ({found}/{tried})" if tried else "n/a" for found, tried in counts]
        if args.markdown:
            print(f"| {form} | `{label}` | {shares[0]} | {shares[1]} |")
        else:
            print(f"{shares[0]:>20} {shares[1]:>20}  {label:<11} {form}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
