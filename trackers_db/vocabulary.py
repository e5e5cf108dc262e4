"""The fixed category vocabulary of the tracker database.

Every curated entry and every imported list is mapped onto these categories,
so that rules and reports speak one language whatever the source.
docs/trackers-db.md explains each category.
"""

from __future__ import annotations

from enum import StrEnum

CATEGORIES: dict[str, str] = {
    "advertising": "Ad serving, ad exchanges, ad mediation and retargeting.",
    "analytics": "Usage and product analytics, audience measurement.",
    "attribution": "Mobile install and campaign attribution, deep-link measurement.",
    "crash_reporting": "Crash, error and performance telemetry.",
    "session_replay": "Recording of screens, clicks, scrolls and keystrokes for replay.",
    "ab_testing": "Experimentation, feature flags and remote configuration.",
    "push_engagement": "Push notifications, in-app messaging and customer engagement.",
    "tag_manager": "Tag managers that load other trackers.",
    "social": "Social network SDKs, login buttons, share widgets and pixels.",
    "fingerprinting": "Device fingerprinting, fraud scoring and bot detection.",
    "data_broker": "Identity graphs, audience data and data brokers.",
    "consent_management": "Consent banners and consent management platforms.",
    "customer_support": "Chat widgets, help desks and feedback tools.",
    "identity": "Sign-in, single sign-on and identity providers.",
    "payments": "Payment processing and in-app purchases.",
    "edtech": "Educational platforms and learning services.",
    "video_conferencing": "Video calls, virtual classrooms and real-time media.",
    "proctoring": "Exam proctoring, face, voice or attention analysis.",
    "maps_location": "Maps, geocoding and location services.",
    "platform_services": "Operating-system and app-store services of the device vendor.",
    "cdn": "Content delivery networks, fonts and static asset hosts.",
    "cloud_hosting": "Cloud hosting, storage, APIs and backend-as-a-service.",
    "content": "Embedded media, video players and other content.",
    "security": "Captcha, certificate status and security services.",
}


class Category(StrEnum):
    """A category of :data:`CATEGORIES` as a value (str-valued: JSON and comparisons with strings are unchanged)."""

    ADVERTISING = "advertising"
    ANALYTICS = "analytics"
    ATTRIBUTION = "attribution"
    CRASH_REPORTING = "crash_reporting"
    SESSION_REPLAY = "session_replay"
    AB_TESTING = "ab_testing"
    PUSH_ENGAGEMENT = "push_engagement"
    TAG_MANAGER = "tag_manager"
    SOCIAL = "social"
    FINGERPRINTING = "fingerprinting"
    DATA_BROKER = "data_broker"
    CONSENT_MANAGEMENT = "consent_management"
    CUSTOMER_SUPPORT = "customer_support"
    IDENTITY = "identity"
    PAYMENTS = "payments"
    EDTECH = "edtech"
    VIDEO_CONFERENCING = "video_conferencing"
    PROCTORING = "proctoring"
    MAPS_LOCATION = "maps_location"
    PLATFORM_SERVICES = "platform_services"
    CDN = "cdn"
    CLOUD_HOSTING = "cloud_hosting"
    CONTENT = "content"
    SECURITY = "security"

    @classmethod
    def of(cls, value: str | None) -> Category | None:
        """The category named ``value``; ``None`` for no or an unknown name (lists are mapped onto the vocabulary).

        >>> Category.of("analytics") is Category.ANALYTICS, Category.of(None), Category.of("nonsense")
        (True, None, None)
        """
        try:
            return cls(value) if value else None
        except ValueError:
            return None


TRACKING_CATEGORIES: frozenset[str] = frozenset(
    {
        "advertising",
        "analytics",
        "attribution",
        "crash_reporting",
        "session_replay",
        "ab_testing",
        "push_engagement",
        "tag_manager",
        "social",
        "fingerprinting",
        "data_broker",
    }
)
"""Categories whose services collect data for the vendor's own purposes.

A destination in one of these is reported as a tracker (``is_tracker``).
"""

INFRASTRUCTURE_CATEGORIES: frozenset[str] = frozenset({"cdn", "cloud_hosting", "security", "platform_services"})
"""Categories that carry an app's traffic but are not, by themselves, data recipients of interest."""


def is_tracking_category(category: str | None) -> bool:
    """True when a service of this category counts as a tracker.

    >>> is_tracking_category("analytics"), is_tracking_category("cdn"), is_tracking_category(None)
    (True, False, False)
    """
    return category in TRACKING_CATEGORIES
