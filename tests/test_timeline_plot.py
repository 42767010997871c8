"""The incident timeline picture (issue 4, item 8): files, labels, colours, DST, determinism, errors."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib import dates as mdates
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from breachkit.errors import UsageError
from breachkit.incidents.clock import deadlines
from breachkit.incidents.model import Filing, Incident, Task, TaskState
from breachkit.incidents.regimes import builtin_regimes
from breachkit.incidents.timeline_plot import BLUE, GREEN, RED, plot_timeline, save_timeline, zone_label

REGIMES = builtin_regimes()
BERLIN = ZoneInfo("Europe/Berlin")
# 23:30 CET on 28 March 2026, 90 minutes before Berlin's clocks go forward (01:00 UTC on the 29th).
AWARE = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


def incident(**changes: object) -> Incident:
    base = Incident(id="BK-2026-0007", title="Credential stuffing against the customer portal",
                    occurred_at=AWARE - timedelta(days=2), occurred_until=AWARE - timedelta(hours=20),
                    detected_at=AWARE - timedelta(hours=6), aware_at=AWARE,
                    aware_justification="confirmed logins from the attacker's addresses",
                    regimes=["gdpr-33", "gdpr-34", "nis2", "uk-gdpr"], created_at=AWARE, updated_at=AWARE)
    return base.model_copy(update=changes)


def task(key: str, role: str, hours: int | None, state: TaskState = TaskState.OPEN) -> Task:
    return Task(incident_id="BK-2026-0007", key=key, title=f"Task {key}", role=role,
                due_at=None if hours is None else AWARE + timedelta(hours=hours), state=state,
                completed_at=AWARE + timedelta(hours=1) if state is TaskState.DONE else None)


def render(now: datetime, *, regimes: tuple[str, ...] = ("gdpr-33", "gdpr-34", "nis2", "uk-gdpr"),
           tasks: list[Task] | None = None, filings: list[Filing] | None = None, **changes: object) -> Figure:
    filings = filings or []
    ds = [d for r in regimes for d in deadlines(REGIMES[r], AWARE, now,
                                                 {f.stage: f.filed_at for f in filings if f.regime == r})]
    return plot_timeline(incident(**changes), deadlines=ds, tasks=tasks or [], filings=filings, now=now, zone=BERLIN)


def svg_texts(path: Path) -> dict[str, str]:
    """Every <text> element of an SVG: its text → its style (the SVG must be well-formed XML)."""
    root = ET.parse(path).getroot()  # noqa: S314  # our own output, written by matplotlib
    assert root.tag == f"{SVG_NS}svg"
    return {"".join(el.itertext()): el.get("style", "") for el in root.iter(f"{SVG_NS}text")}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


FILING = Filing(incident_id="BK-2026-0007", regime="nis2", stage="early_warning", filed_at=AWARE + timedelta(hours=20),
                reference="CSIRT-2026-113", filed_by="dpo@example.org")
FIFTEEN_TASKS = [task(f"t{i:02d}", role, hours, TaskState.DONE if i in (0, 8) else TaskState.OPEN)
                 for i, (role, hours) in enumerate(
                     [("security", 4), ("security", 8), ("security", 24), ("dpo", 24), ("dpo", 48), ("legal", 48),
                      ("legal", 72), ("communications", 96), ("commander", 12), ("security", 36), ("dpo", 60),
                      ("communications", None), ("commander", 6), ("legal", 30), ("security", 2)])]
# 80 h after awareness: GDPR Art. 33 and the ICO are 8 h overdue; NIS2's early warning was filed on time.
NOW = AWARE + timedelta(hours=80)


def render_main() -> Figure:
    return render(NOW, tasks=FIFTEEN_TASKS, filings=[FILING])


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory) -> tuple[Figure, Path, Path]:
    """The main scenario (4 regimes, 15 tasks, a filing), rendered once and saved as PNG and SVG."""
    figure = render_main()
    folder = tmp_path_factory.mktemp("timeline") / "out"
    return figure, save_timeline(figure, folder / "timeline.png"), save_timeline(figure, folder / "timeline.svg")


def test_png_and_svg_are_private_files_with_valid_signatures(main: tuple[Figure, Path, Path], tmp_path: Path) -> None:
    _, png, svg = main
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert svg.read_bytes().startswith(b"<?xml") and b"<svg" in svg.read_bytes()[:2000]
    svg_texts(svg)
    assert mode(png) == 0o600 and mode(svg) == 0o600
    assert sorted(p.name for p in png.parent.iterdir()) == ["timeline.png", "timeline.svg"]  # no temp files left
    # an explicit format wins over the suffix
    small = render(AWARE + timedelta(hours=1), regimes=("gdpr-33",))
    other = save_timeline(small, tmp_path / "timeline.picture", fmt="svg")
    assert other.read_bytes().startswith(b"<?xml") and mode(other) == 0o600


def test_svg_names_stages_moments_zone_and_colours_overdue_red(main: tuple[Figure, Path, Path],
                                                               tmp_path: Path) -> None:
    texts = svg_texts(main[2])
    for stage in ("Notify the supervisory authority (Art. 33(1))", "Report to the ICO", "Early warning (Art. 23(4)(a))",
                  "Incident notification (Art. 23(4)(b))",
                  "Communicate to the data subjects without undue delay (Art. 34(1))"):
        assert stage in texts
    assert "aware (clock start): 2026-03-28 23:30 CET" in texts
    assert "Time in Europe/Berlin (CET/CEST)" in texts
    assert "without undue delay, not met yet" in texts  # Art. 34 has no fixed time: shown at the right edge
    assert "initial report filed (early_warning) 2026-03-29 20:30 CEST, reference CSIRT-2026-113" in texts
    assert f"fill: {RED}" in texts["Notify the supervisory authority (Art. 33(1))"]
    assert f"fill: {RED}" in texts["due 2026-04-01 00:30 CEST · OVERDUE by 8 h 00 min"]
    assert f"fill: {GREEN}" in texts["Early warning (Art. 23(4)(a))"]  # met
    assert f"stroke: {RED}" in main[2].read_text()  # the deadline marker itself

    calm = save_timeline(render(AWARE + timedelta(hours=1), tasks=[task("a", "security", 4)]), tmp_path / "calm.svg")
    assert "Notify the supervisory authority (Art. 33(1))" in svg_texts(calm)
    assert RED not in calm.read_text()


def test_local_times_across_the_berlin_spring_change() -> None:
    figure = render(AWARE + timedelta(hours=10), regimes=("gdpr-33",), occurred_at=None, occurred_until=None,
                    detected_at=None)
    figure.canvas.draw()
    ax = figure.axes[0]
    notes = {t.get_text() for t in ax.texts}
    assert "aware (clock start): 2026-03-28 23:30 CET" in notes
    # 72 elapsed hours after 23:30 CET end at 00:30 CEST, not 23:30
    assert "Notify the supervisory authority (Art. 33(1))\ndue 2026-04-01 00:30 CEST · 2 d 14 h left" in notes
    ticks = {label.get_text(): x for label, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)}
    assert {"2026-03-29\n00:00 CET", "2026-03-29\n12:00 CEST"} <= set(ticks)
    # noon CEST on the 29th is 10:00 UTC: every tick sits where its local label says
    assert ticks["2026-03-29\n12:00 CEST"] == pytest.approx(mdates.date2num(datetime(2026, 3, 29, 10, tzinfo=UTC)))
    for text, x in ticks.items():
        day, clock, abbreviation = text.replace("\n", " ").split(" ")
        local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=BERLIN)
        assert local.tzname() == abbreviation
        assert x == pytest.approx(mdates.date2num(local.astimezone(UTC)))


def test_two_renders_are_byte_identical(main: tuple[Figure, Path, Path], tmp_path: Path) -> None:
    svg = save_timeline(render_main(), tmp_path / "again.svg")
    assert svg.read_bytes() == main[2].read_bytes()
    assert b"<dc:date>" not in svg.read_bytes()
    pngs = [save_timeline(render(NOW, regimes=("gdpr-33",)), tmp_path / f"{run}.png").read_bytes() for run in "ab"]
    assert pngs[0] == pngs[1]


@pytest.mark.parametrize("name,named", [("timeline.jpg", "'.jpg'"), ("timeline", "no suffix")])
def test_unsupported_suffix_is_a_usage_error(tmp_path: Path, name: str, named: str) -> None:
    figure = render(AWARE + timedelta(hours=1), regimes=("gdpr-33",))
    with pytest.raises(UsageError, match=named) as caught:
        save_timeline(figure, tmp_path / name)
    assert caught.value.exit_code == 2 and caught.value.hint
    with pytest.raises(UsageError, match="'pdf'"):
        save_timeline(figure, tmp_path / "t.pdf", fmt="pdf")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_tasks_grouped_by_role_coloured_by_state_and_the_figure_grows(main: tuple[Figure, Path, Path]) -> None:
    small = render(NOW, regimes=("gdpr-33", "gdpr-34"), occurred_at=None, occurred_until=None, detected_at=None)
    big = main[0]
    assert big.get_figheight() > small.get_figheight() + 15 * 0.3
    ax = big.axes[0]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    task_rows = [label for label in labels if " · Task " in label]
    assert len(task_rows) == 15
    roles = [row.split(" · ")[0] for row in task_rows]
    assert roles == sorted(roles, key=["security", "dpo", "legal", "communications", "commander"].index)
    colours = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert colours["due 2026-03-29 08:30 CEST · OVERDUE by 3 d"] == RED  # t01: due T+8 h, still open at T+80 h
    assert colours["due 2026-03-29 04:30 CEST · done 2026-03-29 00:30 CET"] == GREEN  # t00: done before DST began
    assert colours["due 2026-04-02 00:30 CEST · due in 16 h 00 min"] == BLUE  # t07: due T+96 h
    assert "no due time · open" in colours
    # no tasks, no filings, no occurred/detected: still a picture, with the edge note for Art. 34
    assert "Communicate to the data subjects without undue delay (Art. 34(1))\nwithout undue delay, not met yet" in {
        t.get_text() for t in small.axes[0].texts}


def test_zone_label_and_naive_now() -> None:
    assert zone_label(BERLIN, AWARE, AWARE) == "Europe/Berlin (CET/CEST)"
    assert zone_label(ZoneInfo("UTC"), AWARE, AWARE) == "UTC"
    assert zone_label(ZoneInfo("America/Sao_Paulo"), AWARE, AWARE) == "America/Sao_Paulo (-03)"
    with pytest.raises(ValueError, match="timezone-aware"):
        plot_timeline(incident(), deadlines=[], tasks=[], filings=[], now=datetime(2026, 3, 29, 12), zone=BERLIN)


def test_the_legal_window_keeps_72_hours_wide_and_names_what_falls_outside(tmp_path: Path) -> None:
    from breachkit.incidents.clock import legal_window

    now = AWARE + timedelta(days=9)  # long after every 72-hour deadline
    ds = [d for r in ("gdpr-33", "gdpr-34") for d in deadlines(REGIMES[r], AWARE, now)]
    window = legal_window(AWARE, ds, now)
    assert window == (AWARE, AWARE + timedelta(hours=72))
    figure = plot_timeline(incident(), deadlines=ds, tasks=[task("late", "security", 200)], filings=[], now=now,
                           zone=BERLIN, window=window)
    lo, hi = figure.axes[0].get_xlim()
    assert (hi - lo) == pytest.approx(3 * 1.10, rel=0.01)  # three days plus the margins, not nine
    path = save_timeline(figure, tmp_path / "t.svg")
    texts = " ".join(svg_texts(path))
    assert "now 2026-04-07" in texts and "→" in texts  # now past the right edge, said in words
    assert "outside the window:" in texts and "occurred 2026-03-26" in texts and "task late due" in texts
    everything = plot_timeline(incident(), deadlines=ds, tasks=[], filings=[], now=now, zone=BERLIN)
    wide_lo, wide_hi = everything.axes[0].get_xlim()
    assert wide_hi - wide_lo > 9


def test_report_timeline_uses_the_legal_window_by_default(tmp_path, monkeypatch, invoke_cli) -> None:
    monkeypatch.chdir(tmp_path)
    invoke_cli("init", ".")
    aware = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    invoke_cli("incident", "open", "--title", "Old", "--aware-at", aware, "--justification", "j")
    invoke_cli("report", "timeline", "BK-" + aware[:4] + "-0001", "--out", str(tmp_path / "t.svg"))
    assert "window: awareness to the last deadline" in " ".join(svg_texts(tmp_path / "t.svg"))
    invoke_cli("report", "timeline", "BK-" + aware[:4] + "-0001", "--out", str(tmp_path / "all.svg"), "--window", "all")
    assert "window: awareness" not in " ".join(svg_texts(tmp_path / "all.svg"))
