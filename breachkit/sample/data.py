"""Static catalogues the generator draws from: names, mail domains, phone prefixes, user agents, device models.

Every address and domain is under a reserved name (`.example`, example.com/.org/.net), so no generated e-mail
reaches a real mailbox. Names and phone numbers are invented combinations; phone numbers are not checked
against any numbering plan, so never dial them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split("|"))


def words(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of `text` (compact tables of paths and names)."""
    return tuple(text.split())


DIRECTORY_COLUMNS: Final = _split("user_id|email|name|locale|country|account_type|birth_date|status|phone|created_at")
DEVICE_COLUMNS: Final = _split("device_id|imei|model|manufacturer|owner_user_id|installer_id|registered_at")

COUNTRY_WEIGHTS: Final[Mapping[str, int]] = {
    "DE": 45, "AT": 12, "CH": 10, "FR": 10, "NL": 8, "BE": 6, "IT": 4, "ES": 3, "PL": 2,
}  # fmt: skip
LOCALES: Final[Mapping[str, str]] = {  # weighted choices per country, one letter pair per share
    "DE": "de" * 19 + "en", "AT": "de" * 19 + "en", "CH": "de" * 13 + "fr" * 5 + "it" * 2,
    "FR": "fr" * 19 + "en", "NL": "nl" * 9 + "en", "BE": "nl" * 11 + "fr" * 9, "IT": "it" * 19 + "en",
    "ES": "en", "PL": "en",
}  # fmt: skip
# country code, mobile prefixes, subscriber digits after the prefix
PHONE: Final[Mapping[str, tuple[str, tuple[str, ...], int]]] = {
    "DE": ("49", _split("151|160|170|176"), 8), "AT": ("43", _split("660|664|676"), 7),
    "CH": ("41", _split("76|78|79"), 7), "FR": ("33", _split("6|7"), 8), "NL": ("31", _split("6"), 8),
    "BE": ("32", _split("470|475|486"), 6), "IT": ("39", _split("320|333|347"), 7),
    "ES": ("34", _split("612|655|699"), 6), "PL": ("48", _split("501|602|798"), 6),
}  # fmt: skip
MAIL_DOMAINS: Final[Mapping[str, tuple[str, ...]]] = {
    "DE": _split("gmx.example|web.example|t-online.example|posteo.example"),
    "AT": _split("gmx.example|a1.example|aon.example"),
    "CH": _split("bluewin.example|gmx.example"),
    "FR": _split("orange.example|free.example|laposte.example"),
    "NL": _split("ziggo.example|kpnmail.example"),
    "BE": _split("telenet.example|skynet.example"),
    "IT": _split("libero.example|tiscali.example"),
    "ES": _split("telefonica.example"),
    "PL": _split("wp.example|onet.example"),
}
GLOBAL_DOMAINS: Final = _split("example.com|example.org|example.net|mail.example")

# language → (first names, last names)
NAMES: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "de": (
        _split(
            "Anna|Lukas|Jürgen|Sabine|Matthias|Katrin|Stefan|Ute|Jörg|Birgit|Felix|Lea|Maximilian|Sophie|Günther"
            "|Renate|Tobias|Julia|Uwe|Monika|Björn|Hannah|Dieter|Clara|Andreas|Petra"
        ),
        _split(
            "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann|Schäfer|Koch|Bauer|Richter"
            "|Klein|Wolf|Schröder|Neumann|Zimmermann|Braun|Krüger|Hartmann|Lange|Groß|Köhler|Huber|Gruber"
            "|Brandstätter|Steiner|Moser"
        ),
    ),
    "fr": (
        _split(
            "Camille|Léa|Manon|Hélène|François|Jérôme|Théo|Chloé|Nicolas|Élodie|Julien|Margaux|Benoît|Amélie"
            "|Sébastien|Inès|Gaëlle|Loïc"
        ),
        _split(
            "Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Lefèvre|Girard|Fontaine"
            "|Rousseau|Mercier|Dupont|Lambert|Bonnet|Faure"
        ),
    ),
    "nl": (
        _split("Daan|Sanne|Bram|Lotte|Sem|Fleur|Jeroen|Anouk|Thijs|Eva|Joost|Femke|Ruben|Noor|Maarten|Ilse"),
        _split(
            "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssens|Visser|Smit|Meijer|de Boer|Mulder"
            "|de Groot|Bos|Peeters|Maes|Claes|Willems|Goossens"
        ),
    ),
    "it": (
        _split("Giulia|Francesco|Alessandro|Chiara|Nicolò|Martina|Lorenzo|Federica|Matteo|Sara|Davide|Elisa"),
        _split("Rossi|Russo|Ferrari|Esposito|Bianchi|Romano|Colombo|Ricci|Marino|Greco|D'Angelo|Conti|De Luca|Costa"),
    ),
    "es": (
        _split("José|María|Lucía|Javier|Alejandro|Carmen|Álvaro|Begoña|Sergio|Núria"),
        _split("García|Fernández|González|Rodríguez|López|Martínez|Sánchez|Pérez|Peña|Núñez|Ibáñez"),
    ),
    "pl": (
        _split("Łukasz|Katarzyna|Piotr|Agnieszka|Michał|Małgorzata|Paweł|Zofia|Grzegorz|Żaneta"),
        _split("Nowak|Kowalski|Wiśniewski|Wójcik|Kowalczyk|Kamiński|Lewandowski|Zieliński|Szymański|Dąbrowski"),
    ),
}
INSTALLER_FORMS: Final[Mapping[str, tuple[str, ...]]] = {
    "DE": _split("Elektro {} GmbH|{} Haustechnik|Solartechnik {} GmbH & Co. KG"),
    "AT": _split("Elektro {} GmbH|{} Installationen"),
    "CH": _split("{} Elektro AG|{} Gebäudetechnik AG"),
    "FR": _split("{} Énergie SARL|Installations {}"),
    "NL": _split("{} Installatietechniek B.V."),
    "BE": _split("{} Techniek BV|{} Énergie SRL"),
    "IT": _split("{} Impianti S.r.l."),
    "ES": _split("Instalaciones {} S.L."),
    "PL": _split("{} Instalacje sp. z o.o."),
}

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
BROWSERS: Final = (
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/122.0.0.0 Safari/537.36",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.65",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_SAFARI} Version/17.3.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) {_SAFARI} Version/17.3.1 Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Linux; Android 14; SM-S911B) {_WEBKIT} Chrome/122.0.6261.105 Mobile Safari/537.36",
    f"Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) {_SAFARI} Version/17.2 Mobile/15E148 Safari/604.1",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT} Chrome/122.0.0.0 Safari/537.36",
)
CHROME_WINDOWS: Final = BROWSERS[0]
FIREFOX_LINUX: Final = "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0"
APP_AGENTS: Final = (
    "HeimWatt/5.3.1 (Android 14; Pixel 7; okhttp/4.12.0)",
    "HeimWatt/5.3.1 (Android 13; SM-A536B; okhttp/4.12.0)",
    "HeimWatt/5.3.1 (Android 12; moto g(60); okhttp/4.12.0)",
    "HeimWatt/5.3.0 (iOS 17.3.1; iPhone14,5) CFNetwork/1490.0.4 Darwin/23.2.0",
    "HeimWatt/5.2.7 (iOS 16.7.5; iPhone12,1) CFNetwork/1410.0.3 Darwin/22.6.0",
)
PRO_APP_AGENTS: Final = (
    "HeimWatt Pro/3.4.2 (Android 14; SM-T736B; okhttp/4.12.0)",
    "HeimWatt Pro/3.4.1 (iOS 17.3.1; iPad13,18) CFNetwork/1490.0.4 Darwin/23.2.0",
)
INTEGRATION_AGENTS: Final = (
    "HomeAssistant/2026.3.1 aiohttp/3.9.3 Python/3.12",
    "python-requests/2.31.0",
    "ioBroker.heimwatt/1.4.2 axios/1.6.7",
    "openHAB/4.1.1 Jetty/9.4.54",
    "curl/8.5.0",
)
MONITOR_AGENT: Final = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
CRAWLERS: Final = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "66.249.64.0/19"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "40.77.167.0/24"),
)

# kind, manufacturer, model, TAC (the first 8 IMEI digits: one per model)
MODELS: Final[tuple[tuple[str, str, str, str], ...]] = tuple(
    (kind, maker, model, tac)
    for kind, maker, model, tac in (
        _split(row)
        for row in (
            "GW|HeimWatt|HW-Gateway G2|35847210",
            "GW|HeimWatt|HW-Gateway G3|35847211",
            "SM|Metrix|SM-300 LTE|86420104",
            "HP|Thermora|AeroTherm 9|35962308",
            "HP|Thermora|AeroTherm 12|35962309",
            "PV|Solvana|SI-5000|86753102",
            "PV|Solvana|SI-8000 Hybrid|86753103",
            "WB|Voltcharge|VC-11|35410977",
        )
    )
)

# The portal's static assets (path, size) and end-user pages (path template, size, weight)
STATIC: Final = (
    ("/static/css/portal.8c1f2e.css", 48213),
    ("/static/js/portal.4b9d7a.js", 183442),
    ("/static/js/vendor.1e7c55.js", 412908),
    ("/static/img/logo.svg", 5121),
)
USER_PAGES: Final = (
    ("/account/devices", 9800, 4),
    ("/account/devices/{dev}", 11200, 4),
    ("/account/consumption?period={period}&date={month}", 15400, 5),
    ("/account/settings", 7300, 1),
    ("/account/notifications", 6100, 1),
)
SSH_NOISE_USERS: Final = _split("admin|test|user|oracle|ubuntu|postgres|git|ftpuser|pi|support")
# weights per UTC hour (≈ local hour − 1): quiet nights, peaks in the morning and the evening; office hours
HOURLY: Final = (3, 2, 1, 1, 1, 2, 5, 9, 10, 9, 8, 8, 9, 8, 8, 9, 11, 14, 16, 15, 12, 9, 6, 4)
WORK_HOURLY: Final = (0, 0, 0, 0, 0, 1, 6, 10, 12, 12, 10, 8, 10, 12, 12, 10, 8, 4, 1, 0, 0, 0, 0, 0)
