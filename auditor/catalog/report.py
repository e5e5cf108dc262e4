"""The cross-app report: one self-contained HTML page over a whole catalogue.

Like the per-capture report it embeds plotly.js once, escapes every string
that came from a capture, and carries a Content-Security-Policy that lets only
its own scripts run and nothing load. Sections: apps ranked by third parties
and findings, a heat map of which apps send which data to which companies,
the companies that receive data from the most apps, and changes across
versions of each app.
"""

from __future__ import annotations

from html import escape
from typing import Any

import plotly.graph_objects as go

from auditor.report.html import CSS, content_security_policy, plot_label

APP = "coalesce(nullif(s.app_name, ''), s.app_domains[1], s.path)"
"""How a session's app is named when grouping: its name, else its first domain, else the capture."""

QUESTIONS: dict[str, str] = {
    "apps_ranked": f"""
        WITH apps AS (SELECT s.session_id, {APP} AS app FROM sessions s),
        counted AS (SELECT app, count(*) AS sessions FROM apps GROUP BY app),
        third AS (
            SELECT a.app, count(DISTINCT coalesce(d.company, d.registrable_domain, d.host)) AS third_parties,
                   count(DISTINCT d.host) FILTER (WHERE d.is_tracker) AS trackers
            FROM destinations d JOIN apps a USING (session_id)
            WHERE d.party IN ('third', 'unknown') GROUP BY a.app),
        found AS (
            SELECT a.app, count(*) AS findings, count(*) FILTER (WHERE f.severity = 'high') AS high,
                   count(DISTINCT f.data_type) AS data_types
            FROM findings f JOIN apps a USING (session_id) GROUP BY a.app)
        SELECT c.app, c.sessions, coalesce(t.third_parties, 0) AS third_parties, coalesce(t.trackers, 0) AS trackers,
               coalesce(f.findings, 0) AS findings, coalesce(f.high, 0) AS high, coalesce(f.data_types, 0) AS data_types
        FROM counted c LEFT JOIN third t USING (app) LEFT JOIN found f USING (app)
        ORDER BY third_parties DESC, findings DESC, c.app""",
    "data_to_companies": f"""
        SELECT {APP} AS app, f.data_type, coalesce(f.company, f.host) AS company,
               count(DISTINCT f.session_id) AS sessions, sum(f.count) AS times
        FROM findings f JOIN sessions s USING (session_id)
        WHERE f.data_type IS NOT NULL AND f.party IS DISTINCT FROM 'first'
        GROUP BY ALL ORDER BY times DESC""",
    "companies_by_apps": f"""
        SELECT coalesce(d.company, d.registrable_domain, d.host) AS company,
               count(DISTINCT {APP}) FILTER (WHERE len(d.data_types) > 0) AS apps_sending_data,
               count(DISTINCT {APP}) AS apps_contacting,
               list(DISTINCT dt ORDER BY dt) FILTER (WHERE dt IS NOT NULL) AS data_types
        FROM destinations d JOIN sessions s USING (session_id)
        LEFT JOIN LATERAL unnest(CASE WHEN len(d.data_types) > 0 THEN d.data_types ELSE [NULL] END) AS u(dt) ON true
        WHERE d.party IN ('third', 'unknown')
        GROUP BY 1 ORDER BY apps_sending_data DESC, apps_contacting DESC, company""",
    "versions": f"""
        WITH v AS (
            SELECT {APP} AS app, coalesce(s.app_version, '?') AS version, s.session_id, s.session_start
            FROM sessions s),
        multi AS (SELECT app FROM v GROUP BY app HAVING count(DISTINCT version) > 1)
        SELECT v.app, v.version, min(v.session_start) AS first_session, count(DISTINCT v.session_id) AS sessions,
               list(DISTINCT coalesce(d.company, d.registrable_domain, d.host))
                   FILTER (WHERE d.party IN ('third', 'unknown')) AS third_parties,
               (SELECT list(DISTINCT f.data_type ORDER BY f.data_type) FROM findings f JOIN v v2 USING (session_id)
                WHERE v2.app = v.app AND v2.version = v.version AND f.data_type IS NOT NULL) AS data_types
        FROM v JOIN multi USING (app) LEFT JOIN destinations d USING (session_id)
        GROUP BY v.app, v.version ORDER BY v.app, first_session, v.version""",
    "advertising_id_to_meta": f"""
        SELECT DISTINCT {APP} AS app, s.app_version
        FROM findings f JOIN sessions s USING (session_id)
        WHERE f.data_type = 'advertising_id' AND f.company ILIKE 'Meta%'
        ORDER BY app""",
}
"""The cross-app questions, as SQL over the catalogue (the benchmark times these)."""

HEATMAP_COLUMNS = 40
BAR_ROWS = 25


def human(slug: object) -> str:
    """A data-type slug in words for people (``advertising_id`` → ``advertising ID``)."""
    words = str(slug).replace("_", " ")
    for short in ("id", "ip"):
        words = " ".join(w.upper() if w == short else w for w in words.split(" "))
    return words


def gather(connection: Any) -> dict[str, list[dict[str, Any]]]:
    """Every question's rows as plain dictionaries."""
    answers = {}
    for name, sql in QUESTIONS.items():
        cursor = connection.execute(sql)
        columns = [c[0] for c in cursor.description]
        answers[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return answers


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], limit: int = 500) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = []
    for row in rows[:limit]:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if isinstance(value, list):
                text = ", ".join(human(v) if key == "data_types" else str(v) for v in value if v is not None)
                cells.append(f"<td>{escape(text)}</td>")
            elif isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f"<td class='num'>{value:,}</td>")
            else:
                cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='note'>First {limit} of {len(rows)} rows.</p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _ranking_figure(rows: list[dict[str, Any]]) -> go.Figure | None:
    if not rows:
        return None
    top = rows[:BAR_ROWS][::-1]
    apps = [plot_label(r["app"], 50) for r in top]
    figure = go.Figure()
    figure.add_bar(y=apps, x=[r["third_parties"] for r in top], name="Third-party companies", orientation="h",
                   marker_color="#b3261e")
    figure.add_bar(y=apps, x=[r["findings"] for r in top], name="Findings", orientation="h", marker_color="#1a56a8")
    figure.update_layout(barmode="group", height=160 + 40 * len(top), margin={"l": 10, "r": 10, "t": 30, "b": 30},
                         legend={"orientation": "h"})
    return figure


def _heatmap_figure(rows: list[dict[str, Any]]) -> go.Figure | None:
    if not rows:
        return None
    totals: dict[tuple[str, str], int] = {}
    for r in rows:
        column = (str(r["company"]), str(r["data_type"]))
        totals[column] = totals.get(column, 0) + int(r["sessions"])
    columns = sorted(totals, key=lambda c: (-totals[c], c))[:HEATMAP_COLUMNS]
    apps = sorted({str(r["app"]) for r in rows})
    cells = {(str(r["app"]), str(r["company"]), str(r["data_type"])): int(r["sessions"]) for r in rows}
    z = [[cells.get((app, company, data_type), 0) for company, data_type in columns] for app in apps]
    labels = [plot_label(f"{company} · {human(data_type)}", 60) for company, data_type in columns]
    figure = go.Figure(go.Heatmap(
        z=z, x=labels, y=[plot_label(a, 50) for a in apps], colorscale="Reds", hoverongaps=False,
        colorbar={"title": {"text": "sessions"}, "dtick": 1 if max(map(max, z)) <= 10 else None},
        hovertemplate="%{y} sends %{x} in %{z} session(s)<extra></extra>",
    ))
    figure.update_layout(height=220 + 28 * len(apps), margin={"l": 10, "r": 10, "t": 30, "b": 160},
                         xaxis={"tickangle": -45})
    return figure


def _companies_figure(rows: list[dict[str, Any]]) -> go.Figure | None:
    rows = [r for r in rows if r["apps_sending_data"]][:BAR_ROWS]
    if not rows:
        return None
    top = rows[::-1]
    figure = go.Figure(go.Bar(y=[plot_label(r["company"], 50) for r in top], x=[r["apps_sending_data"] for r in top],
                              orientation="h", marker_color="#6a1b9a"))
    figure.update_layout(height=160 + 32 * len(top), margin={"l": 10, "r": 10, "t": 30, "b": 30},
                         xaxis={"title": {"text": "apps that send it personal data"},
                                "dtick": 1 if rows[0]["apps_sending_data"] <= 10 else None})
    return figure


def _version_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version of an app with the companies and data types it gained or dropped since the previous one."""
    changes = []
    previous: dict[str, dict[str, Any]] = {}
    for row in rows:
        before = previous.get(row["app"])
        companies = set(row["third_parties"] or [])
        data_types = {d for d in row["data_types"] or [] if d}
        entry = dict(row, third_parties=sorted(companies), data_types=sorted(data_types))
        if before is not None:
            entry["new_companies"] = sorted(companies - before["companies"])
            entry["gone_companies"] = sorted(before["companies"] - companies)
            entry["new_data"] = [human(d) for d in sorted(data_types - before["data_types"])]
        previous[row["app"]] = {"companies": companies, "data_types": data_types}
        changes.append(entry)
    return changes


def _plot(name: str, figure: go.Figure | None) -> str:
    if figure is None:
        return "<p class='note'>Nothing to show yet.</p>"
    config = {"displaylogo": False, "responsive": True}
    inner = figure.to_html(full_html=False, include_plotlyjs=False, config=config, div_id=f"{name}-figure")
    return f"<div class='plot' id='{name}'>{inner}</div>"


def render_cross_app(connection: Any, title: str = "Cross-app traffic audit") -> str:
    """The whole page, from an open catalogue."""
    from plotly.offline import get_plotlyjs

    answers = gather(connection)
    totals = connection.execute(
        "SELECT count(*), (SELECT count(*) FROM findings), min(session_start), max(session_start) FROM sessions"
    ).fetchone()
    ranked = answers["apps_ranked"]
    companies = answers["companies_by_apps"]
    versions = _version_changes(answers["versions"])
    cards = [("Sessions", totals[0]), ("Apps", len(ranked)), ("Companies contacted", len(companies)),
             ("Companies receiving personal data", sum(1 for c in companies if c["apps_sending_data"])),
             ("Findings", totals[1])]
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p><small>{totals[0]:,} sessions recorded from {escape(str(totals[2] or '?'))} to "
        f"{escape(str(totals[3] or '?'))}. Values are masked in the catalogue, as in every report.</small></p>",
        "<nav><a href='#ranking'>Apps ranked</a><a href='#heatmap'>Who gets what</a>"
        "<a href='#companies'>Companies</a><a href='#versions'>Versions</a></nav>",
        "<div class='cards'>", *(f"<div class='card'><b>{value:,}</b>{escape(label)}</div>" for label, value in cards),
        "</div>",
        "<h2 id='ranking'>Apps ranked by third parties and findings</h2>"
        "<p class='note'>Third parties are companies (or domains, when the company is unknown) outside the app's "
        "own domains; findings are personal data seen leaving the device, counted over every session of the app."
        "</p>",
        _plot("ranking-plot", _ranking_figure(ranked)),
        _table(ranked, [("app", "App"), ("sessions", "Sessions"), ("third_parties", "Third-party companies"),
                        ("trackers", "Tracker hosts"), ("findings", "Findings"), ("high", "High severity"),
                        ("data_types", "Kinds of personal data")]),
        "<h2 id='heatmap'>Which apps send which data to which companies</h2>"
        "<p class='note'>Each cell counts the sessions of an app in which that kind of personal data reached "
        f"that company (the {HEATMAP_COLUMNS} most frequent company and data pairs).</p>",
        _plot("heatmap-plot", _heatmap_figure(answers["data_to_companies"])),
        "<h2 id='companies'>Companies that receive data from the most apps</h2>",
        _plot("companies-plot", _companies_figure(companies)),
        _table(companies, [("company", "Company"), ("apps_sending_data", "Apps sending it personal data"),
                           ("apps_contacting", "Apps contacting it"), ("data_types", "Kinds of personal data")]),
        "<h2 id='versions'>Changes across versions</h2>"
        "<p class='note'>Apps recorded in more than one version, oldest first, with what each version added or "
        "dropped.</p>",
        _table(versions, [("app", "App"), ("version", "Version"), ("first_session", "First session"),
                          ("third_parties", "Third parties"), ("new_companies", "New companies"),
                          ("gone_companies", "Companies no longer contacted"), ("new_data", "New kinds of data")])
        if versions else "<p>No app was recorded in more than one version.</p>",
        "</body></html>\n",
    ]
    body = f"<title>{escape(title)}</title><style>{CSS}</style><script>{get_plotlyjs()}</script></head><body>"
    body += "".join(parts)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{content_security_policy(body)}\">" + body
    )
