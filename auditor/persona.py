"""Synthetic students: a persona a tester types into an app, made so the auditor can find it anywhere.

A planted value is the strongest evidence an audit has, but only when it is
*unique* (nothing else in the traffic matches it), *plausible* (the app
accepts it) and *clearly synthetic* (no real person has it). This module makes
such a persona (``auditor persona new``) and checks a profile's values for
ones too common to match safely (``auditor persona check``).

How the values are made (docs/detection.md, "Plant a synthetic student"):

* names are built from syllables of a fixed table (no name list, nothing looked
  up online): ``Velorine Tashquibb``. At least 7 letters each, capitalised,
  letters only, so they pass the name checks of sign-up forms yet belong to no
  directory;
* the e-mail address is at a reserved domain (RFC 2606: ``example.com``,
  ``.example``...) or at a domain the school controls (``--email-domain``);
* phone numbers are in ranges reserved for fiction: NANP 555-0100 to 555-0199
  in any area code (en-US, en-CA, fr-CA); Ofcom's drama range 07700 900000 to
  900999 (en-GB);
* the street is a syllable-built name, so the address exists on no map; the
  postal code has the locale's format (en-US 99999, en-CA X0X 0X0, en-GB
  ZZ99 9ZZ, the NHS pseudo-postcode); replace it with the school's if the app
  checks it against a real list;
* the essay sentence and the search phrases carry a syllable-built word, so
  each is findable on its own.

Randomness comes from ``random.Random(seed)``: the same seed and the same day
give the same persona (reproducible tests).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta

from auditor.profile import DeviceProfile, KnownValue

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "sh", "th")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ia")
_CODAS = ("", "", "n", "r", "l", "s", "th", "x", "nd", "rk")
# Endings rare in real names, so the whole is improbable while each part looks like a name.
_SURNAME_TAILS = ("quibb", "vorne", "zelle", "thwick", "brandt", "kesh", "lowe")
_GIVEN_TAILS = ("ine", "ara", "ette", "iel", "ora", "elle", "ian")
_STREET_KINDS = ("Lane", "Crescent", "Road", "Avenue", "Court")


@dataclass(frozen=True)
class Locale:
    """What a locale needs for plausible, reserved values."""

    country_code: str
    """Telephone country code."""
    areas: tuple[tuple[str, str], ...]
    """(area code, its city): the area code goes before the reserved local range."""
    phone_range: tuple[str, int, int]
    """(prefix, first, last): the reserved numbers are prefix + a number in [first, last]."""
    postal_code: str
    """A postal code of the locale's format, unlikely to be anyone's address."""


LOCALES: dict[str, Locale] = {
    # NANP: 555-0100..555-0199 are reserved for fictional use in every area code (NANPA).
    "en-US": Locale("1", (("202", "Washington"), ("312", "Chicago"), ("512", "Austin")), ("5550", 100, 199), "99999"),
    "en-CA": Locale("1", (("613", "Ottawa"), ("416", "Toronto"), ("902", "Halifax")), ("5550", 100, 199), "X0X 0X0"),
    "fr-CA": Locale("1", (("514", "Montréal"), ("418", "Québec")), ("5550", 100, 199), "X0X 0X0"),
    # Ofcom: 07700 900000..900999 are reserved for TV, radio and drama (a mobile number: no city in it).
    "en-GB": Locale("44", (("7700", "Leeds"),), ("900", 0, 999), "ZZ99 9ZZ"),
}
"""Supported ``--locale`` values."""

RESERVED_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
RESERVED_TLDS = (".example", ".test", ".invalid", ".localhost")
"""RFC 2606 / RFC 6761 names that can never belong to anyone."""


@dataclass(frozen=True)
class Persona:
    """A synthetic student's values, ready to write as a profile."""

    first_name: str
    last_name: str
    email: str
    username: str
    password: str
    phone: str
    birthdate: date
    student_id: str
    school: str
    address: str
    postal_code: str
    city: str
    essay: str
    search_1: str
    search_2: str
    locale: str

    def typing_sheet(self) -> list[tuple[str, str]]:
        """(what, value) pairs in the order a tester types them into an app."""
        return [
            ("First name", self.first_name), ("Last name", self.last_name), ("E-mail", self.email),
            ("Username", self.username), ("Password", self.password), ("Phone", self.phone),
            ("Birth date", self.birthdate.isoformat()), ("Student ID", self.student_id), ("School", self.school),
            ("Street address", self.address), ("Postal code", self.postal_code), ("City", self.city),
            ("Essay sentence", self.essay), ("Search 1", self.search_1), ("Search 2", self.search_2),
        ]

    def to_toml(self) -> str:
        """The persona in the device-profile format (``auditor analyze --profile``)."""
        student = {
            "first_name": self.first_name, "last_name": self.last_name, "email": self.email,
            "username": self.username, "password": self.password, "phone": self.phone,
            "birthdate": self.birthdate.isoformat(), "student_id": self.student_id, "school": self.school,
            "address": self.address, "postal_code": self.postal_code, "essay": self.essay,
            "search_1": self.search_1, "search_2": self.search_2,
        }
        lines = [
            "# Synthetic student made by `auditor persona new` (locale "
            f"{self.locale}). Every value is made up: type them",
            "# into the app on the test device, then run: auditor analyze CAPTURE --profile THIS_FILE",
            "# Add the device's identifiers under [device] and [network] (see `auditor profile init`).",
            "",
            "[student]",
        ]
        lines += [f"{key} = {_toml_string(value)}" for key, value in student.items()]
        return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word(rng: random.Random, syllables: int, tails: tuple[str, ...]) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables - 1)]
    parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) if not tails else rng.choice(tails))
    return "".join(parts)


def _name(rng: random.Random, syllables: int, tails: tuple[str, ...]) -> str:
    while True:
        word = _word(rng, syllables, tails)
        if len(word) >= 7 and not re.search(r"(.)\1\1", word):
            return word.capitalize()


def birthdate_for_age(age: int, today: date, rng: random.Random) -> date:
    """A birth date that makes the student exactly ``age`` today (not a birthday today, nor 29 February)."""
    days_after_birthday = rng.randint(20, 340)
    anchor = today - timedelta(days=days_after_birthday)
    try:
        born = anchor.replace(year=anchor.year - age)
    except ValueError:  # 29 February in a year that has none
        born = anchor.replace(year=anchor.year - age, day=28)
    return born


def age_on(born: date, today: date) -> int:
    """Full years between ``born`` and ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def new_persona(
    seed: int | None = None,
    age: int = 9,
    locale: str = "en-CA",
    email_domain: str = "example.com",
    id_format: str = "TEST-########",
    today: date | None = None,
) -> Persona:
    """A new synthetic student; ``seed`` makes it reproducible. Raises ``ValueError`` for a bad option."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r} (known: {', '.join(LOCALES)})")
    if not 3 <= age <= 25:
        raise ValueError("age must be between 3 and 25")
    domain = email_domain.strip().lower().lstrip("@")
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        raise ValueError(f"{email_domain!r} is not a domain name")
    if "#" not in id_format:
        raise ValueError("the student ID format needs at least one # (a digit)")
    rng = random.Random(seed)
    spec = LOCALES[locale]
    first = _name(rng, 2, _GIVEN_TAILS)
    last = _name(rng, 2, _SURNAME_TAILS)
    tag = rng.randint(10, 99)
    prefix, low, high = spec.phone_range
    number = f"{prefix}{rng.randint(low, high):0{len(str(high))}d}"
    area, city = rng.choice(spec.areas)
    if spec.country_code == "1":
        phone = f"+1 {area} {number[:3]} {number[3:]}"
    else:
        phone = f"+{spec.country_code} {area} {number}"
    street = _name(rng, 2, ())
    place = _name(rng, 3, ())
    keyword = _name(rng, 2, ())
    return Persona(
        first_name=first,
        last_name=last,
        email=f"{first}.{last}.{tag}@{domain}".lower(),
        username=f"{first}_{last}{tag}".lower(),
        password=f"{_name(rng, 2, ())}-{rng.randint(1000, 9999)}-{_name(rng, 2, ())}!",
        phone=phone,
        birthdate=birthdate_for_age(age, today or date.today(), rng),
        student_id=re.sub("#", lambda _: str(rng.randint(0, 9)), id_format),
        school=f"{place} Test Elementary School",
        address=f"{rng.randint(100, 9899)} {street} {rng.choice(_STREET_KINDS)}",
        postal_code=spec.postal_code,
        city=city,
        essay=f"On Saturday I fed {keyword} the class tortoise and wrote about the {street} river.",
        search_1=f"{keyword} tortoise facts",
        search_2=f"how far is {place} from the sea",
        locale=locale,
    )


# Too common to be evidence on their own: short common words and the most frequent given names and surnames.
_COMMON_WORDS = frozenset(
    """
    the and for you are with this that from have not your all any can her was one our out day get has him his
    how man new now old see two way who boy did its let put say she too use home school class test student
    teacher name email phone user admin login password search book read math art music game play house street
    road lane avenue park green blue red black white brown gray grey king young hill wood river lake city town
    anna emma olivia ava mia sophia isabella amelia harper evelyn abigail emily ella grace chloe lily zoe nora
    noah liam oliver elijah james william benjamin lucas henry alexander mason michael ethan daniel jacob logan
    jackson sebastian jack aiden owen samuel matthew joseph leo david john mary linda sarah jessica jennifer
    smith johnson williams jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson
    thomas taylor moore martin lee perez thompson harris sanchez clark ramirez lewis robinson walker allen
    wright scott torres nguyen hall rivera campbell mitchell carter roberts tremblay gagnon roy cote bouchard
    gauthier morin lavoie fortin patel singh kim chen wang li zhang liu
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
MIN_UNIQUE_LENGTH = 6
"""Values shorter than this (a bare number, a short word) may match by chance."""


@dataclass(frozen=True)
class ValueWarning:
    """One value a tester should change before planting it."""

    label: str
    message: str


def check_values(profile: DeviceProfile) -> list[ValueWarning]:
    """Values too common to match safely, and values that might belong to a real person (never quoting them)."""
    warnings: list[ValueWarning] = []
    for known in profile.values:
        warnings += _check_value(known)
    return warnings


def _check_value(known: KnownValue) -> list[ValueWarning]:
    label, value = known.label, known.value.strip()
    lowered = value.lower()
    found: list[ValueWarning] = []
    words = re.findall(r"[a-z]+", lowered)
    if label in ("first_name", "last_name"):
        if lowered in _COMMON_WORDS or len(value) < MIN_UNIQUE_LENGTH:
            found.append(ValueWarning(label, "a common or short name: found alone it proves nothing, and it may match "
                                        "other words (use `auditor persona new` for a made-up one)"))
    elif label == "postal_code":
        pass  # matched only as a whole value, never inside other text: short is fine
    elif value.isdigit() and len(value) < 8:
        found.append(ValueWarning(label, f"a number of {len(value)} digits: too short to tell from other numbers"))
    elif len(value) < MIN_UNIQUE_LENGTH:
        found.append(ValueWarning(label, f"only {len(value)} characters: may match other text by chance"))
    elif len(words) == 1 and lowered == words[0] and lowered in _COMMON_WORDS:
        found.append(ValueWarning(label, "a common word: it will match text that has nothing to do with the student"))
    if known.data_type == "email" and "@" in lowered:
        domain = lowered.rsplit("@", 1)[1]
        if domain not in RESERVED_EMAIL_DOMAINS and not domain.endswith(RESERVED_TLDS):
            found.append(ValueWarning(label, "not at a reserved domain (example.com, .example, .test): make sure the "
                                        "school controls this domain, or the address may be a real person's"))
    if known.data_type == "phone" and not _reserved_phone(value):
        found.append(ValueWarning(label, "not in a range reserved for fiction (NANP 555-0100..0199, UK 07700 900xxx): "
                                    "it may ring a real person"))
    return found


def _reserved_phone(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if digits.startswith("1") and len(digits) == 11:
        return digits[4:7] == "555" and 100 <= int(digits[7:]) <= 199
    if digits.startswith("44"):
        national = digits[2:].lstrip("0")
        return national.startswith("7700900") and len(national) == 10
    return False
