"""Keep every line: bytes that are not UTF-8, unescaped quotes, control characters and over-long values are
stored (escaped, cut, flagged) on both engines, and rules match them on both engines."""

from __future__ import annotations

from pathlib import Path

from breachkit.detect.engines import LocalEngine, SearchEngine
from breachkit.detect.rules import load_rules
from breachkit.detect.run import run
from breachkit.logs.ingest import IngestOptions, ingest_file
from breachkit.logs.schema import MAX_VALUE_CHARS
from tests.storepair import pair

__all__ = ["pair"]

NORMAL = b'192.0.2.%d - - [16/Mar/2004:09:12:%02d -0500] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/4.0"'
WEBDAV = (b'192.0.2.66 - - [16/Mar/2004:09:13:01 -0500] "SEARCH /' + b"\x90\x02\xb1\x02" * 40
          + b' HTTP/1.1" 414 354 "-" "-"')
NIKTO = (b'192.0.2.77 - - [16/Mar/2004:09:13:02 -0500] "GET /<script>alert("XSS")</script>.shtml HTTP/1.1" '
         b'404 300 "-" "Mozilla/4.75 (Nikto/1.32 )"')
ESCAPE = b'192.0.2.88 - - [16/Mar/2004:09:13:03 -0500] "GET /\x1b[2J HTTP/1.0" 400 0 "-" "\x1b]0;x\x07"'
# 8,000 bytes of 0xff: 32,000 characters once escaped — cut to MAX_VALUE_CHARS, still one event
LONG = b'192.0.2.99 - - [16/Mar/2004:09:13:04 -0500] "GET /' + b"\xff" * 8000 + b' HTTP/1.1" 414 0 "-" "-"'

RULES = r"""
title: WebDAV SEARCH with an overflow payload
id: 0b7c3c1e-1f3a-4d5e-9a51-7a1c2d3e4f01
status: test
logsource:
  product: breachkit
  service: web
detection:
  selection:
    http.request.method: SEARCH
    url.original|contains: '\x90\x02\xb1\x02'
  condition: selection
level: high
---
title: Script injection probe read with lenient quotes
id: 0b7c3c1e-1f3a-4d5e-9a51-7a1c2d3e4f02
status: test
logsource:
  product: breachkit
  service: web
detection:
  selection:
    url.original|contains: '<script>alert("XSS")'
    log.flags|contains: lenient_quotes
  condition: selection
level: medium
---
title: Terminal escape sequence in a request
id: 0b7c3c1e-1f3a-4d5e-9a51-7a1c2d3e4f03
status: test
logsource:
  product: breachkit
  service: web
detection:
  selection:
    user_agent.original|startswith: '\x1b]0;'
  condition: selection
level: medium
---
title: Over-long request cut at ingest
id: 0b7c3c1e-1f3a-4d5e-9a51-7a1c2d3e4f04
status: test
logsource:
  product: breachkit
  service: web
detection:
  selection:
    log.flags|contains: truncated
    url.original|startswith: '/\xff\xff'
  condition: selection
level: low
"""


def write_log(path: Path) -> list[bytes]:
    lines = [NORMAL % (i, i) for i in range(1, 11)]
    lines[2:2] = [WEBDAV]
    lines[5:5] = [NIKTO, ESCAPE]
    lines.append(LONG)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def test_every_line_is_stored_and_matchable_on_both_engines(pair, tmp_path):
    lines = write_log(tmp_path / "honeynet-access.log")
    summaries = [ingest_file(str(tmp_path / "honeynet-access.log"), store, pair.config, pair.workspace,
                             options=IngestOptions(format="combined")) for store in pair.stores]
    for summary in summaries:
        assert (summary.lines, summary.events, summary.bad_lines) == (len(lines), len(lines), 0)
        assert summary.flagged == {"non_utf8": 2, "control_chars": 2, "lenient_quotes": 1, "truncated": 1}
    fields = ("log.file.line", "http.request.method", "url.original", "user_agent.original", "log.flags")
    local_rows, search_rows = (pair.rows(store, *fields) for store in pair.stores)
    assert local_rows == search_rows
    by_line = {row[0]: row for row in local_rows}
    assert by_line[3][1:3] == ("SEARCH", "/" + "\\x90\\x02\\xb1\\x02" * 40)
    assert by_line[3][4] == "control_chars;non_utf8"
    assert by_line[6][2] == '/<script>alert("XSS")</script>.shtml'
    assert by_line[7][2:] == ("/\\x1b[2J", "\\x1b]0;x\\x07", "control_chars")
    cut = by_line[len(lines)][2]
    assert len(cut) <= MAX_VALUE_CHARS and cut.startswith("/\\xff\\xff") and cut.endswith("\\xff")
    assert "truncated" in by_line[len(lines)][4] and "non_utf8" in by_line[len(lines)][4]
    original = pair.local.query('SELECT "log.original" FROM events WHERE "log.file.line" = 3')[0][0]
    assert original == WEBDAV.decode("latin-1").replace("\x90", "\\x90").replace("\x02", "\\x02").replace(
        "\xb1", "\\xb1")

    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(RULES, encoding="utf-8")
    ruleset = load_rules([rule_file])
    assert not ruleset.problems, ruleset.problems
    found = {}
    for name, engine in (("local", LocalEngine(pair.local)), ("search", SearchEngine.over(pair.search))):
        result = run(ruleset, engine)
        found[name] = sorted((d.rule_id, d.event_ids) for d in result.detections)
    assert found["local"] == found["search"]
    lines_of = dict(pair.local.query('SELECT "event.id", "log.file.line" FROM events'))
    hit_lines = sorted((rule[-2:], [lines_of[e] for e in ids]) for rule, ids in found["local"])
    assert hit_lines == [("01", [3]), ("02", [6]), ("03", [7]), ("04", [len(lines)])]
