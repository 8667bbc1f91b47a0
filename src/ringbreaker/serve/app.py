"""The workbench's routes: server-rendered pages (Jinja2, autoescaped) and their JSON twins.

Every handler is a plain function run in Starlette's thread pool with one DuckDB cursor on the
current snapshot (see snapshot.py); the pages and the API call the same readers (alerts.py,
entities.py), so a page and its twin always agree. Unknown ids answer 404, bad filters 400.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ringbreaker import __version__
from ringbreaker.serve import alerts as alert_db
from ringbreaker.serve import charts, entities, keys, redact
from ringbreaker.serve.auth import TokenGate
from ringbreaker.serve.paging import Page, Pages
from ringbreaker.serve.snapshot import Snapshots

if TYPE_CHECKING:
    import duckdb

STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="none" '
    b'stroke="#b00020" stroke-width="3"/></svg>'
)
CREWS_PER_PAGE = 50
_META_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


@dataclass(frozen=True)
class ServeConfig:
    """How the workbench runs: where, with which token, what it may show."""

    workspace: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 8765
    show_prompts: bool = False
    snapshot_dir: Path | None = None
    poll_s: float = 1.0


class NotFound(Exception):
    """An id the workspace does not know: answered 404."""


class Workbench:
    """The routes' shared state: the snapshots, the templates, the case files written on demand."""

    def __init__(self, config: ServeConfig, snapshots: Snapshots) -> None:
        self.config = config
        self.snapshots = snapshots
        self.env = Environment(
            loader=PackageLoader("ringbreaker.serve", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            version=__version__,
            chart=charts.bars,
            daily=charts.daily,
            stacked=charts.stacked,
            qs=urlencode,
        )
        self.env.filters["prompt"] = lambda p: redact.prompt_preview(p, config.show_prompts)
        self.cases = Path(tempfile.mkdtemp(prefix="ringbreaker-cases-"))
        atexit.register(shutil.rmtree, self.cases, True)  # case files written on demand go at exit
        self._case_lock = threading.Lock()
        self._case_made: dict[str, tuple[datetime | None, Path]] = {}  # crew -> (snapshot, its dir)

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        taken = self.snapshots.taken
        html = self.env.get_template(name).render(
            request=request,
            path=request.url.path,
            snapshot=taken.strftime("%Y-%m-%d %H:%M:%S UTC") if taken else "",
            busy=self.snapshots.busy_since is not None,
            show_prompts=self.config.show_prompts,
            workspace=self.config.workspace.name,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def case_dir(self, crew_id: str) -> Path:
        """The crew's case files for the current snapshot, written on first use (case's public API)."""
        from ringbreaker.case import write_case

        with self._case_lock, self.snapshots.cursor() as con:
            stamp = self.snapshots.taken
            made = self._case_made.get(crew_id)
            if made is None or made[0] != stamp:
                written = write_case(con, crew_id, self.cases, workspace=str(self.config.workspace))
                made = self._case_made[crew_id] = (stamp, written.dir)
            return made[1]


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "token"}


def create_app(config: ServeConfig, snapshots: Snapshots) -> Starlette:
    """The ASGI application (wrapped in the token gate) over a started ``Snapshots``."""
    wb = Workbench(config, snapshots)

    def bad_request(request: Request, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=400)
        return wb.page(request, "error.html", 400, title="400 bad request", message=message)

    def not_found(request: Request, what: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"not found: {what}"}, status_code=404)
        return wb.page(request, "error.html", 404, title="404 not found", message=f"not found: {what}")

    def healthz(request: Request) -> Response:
        return JSONResponse({"ok": snapshots.taken is not None})

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return not_found(request, name)
        body = resources.files("ringbreaker.serve").joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC[name])

    def favicon(request: Request) -> Response:
        return Response(FAVICON, media_type="image/svg+xml")

    def overview(request: Request) -> Response:
        data = snapshots.memo(("overview",), alert_db.overview)
        return wb.page(request, "overview.html", o=data)

    def alert_list(request: Request) -> Response:
        try:
            f = alert_db.Filters.parse(_params(request))
            found, total = snapshots.memo(("inbox", f), lambda con: alert_db.inbox(con, f))
        except ValueError as e:
            return bad_request(request, str(e))
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {
                    "alerts": [a.to_json() for a in found],
                    "total": total,
                    "page": f.page,
                    "per_page": f.per_page,
                }
            )
        pages = max(1, -(-total // f.per_page))
        return wb.page(request, "alerts.html", alerts=found, total=total, f=f, pages=pages)

    def alert_page(request: Request) -> Response:
        aid = request.path_params["id"]
        a = snapshots.memo(("alert", aid), lambda con: alert_db.one(con, aid))
        if a is None:
            return not_found(request, f"alert {aid}")
        if request.url.path.startswith("/api/"):
            return JSONResponse(a.to_json())

        def evidence_of(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            found = entities.events(con, list(a.event_ids))
            return [
                ev
                | {
                    "raw_shown": ev["record_error"]
                    or redact.raw_record(ev["raw"], ev["prompt"], ev["key_id"], config.show_prompts)
                }
                for ev in found
            ]

        evidence = snapshots.memo(("evidence", aid), evidence_of)
        rel = snapshots.memo(("related", aid), lambda con: alert_db.related(con, a))
        return wb.page(request, "alert.html", a=a, evidence=evidence, related=rel)

    def key_page(request: Request) -> Response:
        fp = request.path_params["fingerprint"].lower()
        try:
            pages = Pages.parse(_params(request), keys.KEY_LISTS)
        except ValueError as e:
            return bad_request(request, str(e))
        k = snapshots.memo(("key", fp, pages), lambda con: keys.key(con, fp, pages))
        if k is None:
            return not_found(request, f"key {fp}")
        on_key, n_alerts = snapshots.memo(
            ("alerts on key", fp, pages["alerts"]), lambda con: alert_db.on_key(con, fp, pages["alerts"])
        )
        totals = k["totals"] | {"alerts": n_alerts}
        if request.url.path.startswith("/api/"):
            doc = k | {
                "flagged_prompts": [
                    p | {"prompt": redact.prompt_preview(p["prompt"], config.show_prompts)}
                    for p in k["flagged_prompts"]
                ],
                "alerts": [a.to_json() for a in on_key],
                "totals": totals,
                "paging": pages.to_json(totals),
            }
            return JSONResponse(_jsonable(doc))
        return wb.page(
            request, "key.html", k=k, alerts=on_key, totals=totals, pages=pages, others=keys.OTHERS
        )

    def crew_list(request: Request) -> Response:
        try:
            pg = Page.parse(_params(request), CREWS_PER_PAGE)
        except ValueError as e:
            return bad_request(request, str(e))
        found, total = snapshots.memo(("crews", pg), lambda con: entities.crews_page(con, pg))
        if request.url.path.startswith("/api/"):
            doc = {"crews": found, "total": total, "page": pg.page, "per_page": pg.per_page}
            return JSONResponse(_jsonable(doc))
        return wb.page(request, "crews.html", crews=found, total=total, pg=pg, pages=pg.pages(total))

    def crew_page(request: Request) -> Response:
        cid = request.path_params["id"]
        found = snapshots.memo(("crew", cid), lambda con: entities.crews(con, cid))
        if not found:
            return not_found(request, f"crew {cid}")
        activity = snapshots.memo(("crew activity", cid), lambda con: entities.crew_events(con, found[0]))
        if request.url.path.startswith("/api/"):
            return JSONResponse(_jsonable(found[0]))
        by_role: dict[str, list[dict[str, Any]]] = {"creator": [], "provider": [], "user": []}
        for m in found[0]["members"]:
            by_role.setdefault(m["role"], []).append(m)
        return wb.page(request, "crew.html", c=found[0], by_role=by_role, activity=activity)

    def event_page(request: Request) -> Response:
        eid = request.path_params["id"]

        def shown(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
            ev = entities.event(con, eid)
            if ev is None:
                return None
            raw = ev.pop("raw")
            return ev | {
                "raw_shown": ev["record_error"]
                or redact.raw_record(raw, ev["prompt"], ev["key_id"], config.show_prompts),
                "prompt": redact.prompt_preview(ev["prompt"], config.show_prompts),
                "cited": alert_db.citing(con, eid),
            }

        ev = snapshots.memo(("event", eid), shown)
        if ev is None:
            return not_found(request, f"event {eid}")
        cited = ev["cited"]
        return wb.page(request, "event.html", ev=ev, cited=cited)

    def search_page(request: Request) -> Response:
        q = request.query_params.get("q", "")
        field = request.query_params.get("field", "")
        try:
            pg = Page.parse(_params(request), entities.SEARCH_LIMIT)
        except ValueError as e:
            return bad_request(request, str(e))
        found, totals = snapshots.memo(("search", q, pg), lambda con: entities.search(con, q, pg))
        pivot, pivot_total = (
            snapshots.memo(("pivot", field, q, pg), lambda con: entities.keys_of(con, field, q, pg))
            if field
            else ([], 0)
        )
        pages = pg.pages(max([*totals.values(), pivot_total]))
        if request.url.path.startswith("/api/"):
            doc = found | {"totals": totals, "page": pg.page, "per_page": pg.per_page}
            if field:
                doc |= {"pivot": pivot, "pivot_total": pivot_total}
            return JSONResponse(_jsonable(doc))
        query = {k: v for k, v in {"q": q, "field": field, "per_page": str(pg.per_page)}.items() if v}
        if pg.per_page == entities.SEARCH_LIMIT:
            del query["per_page"]
        return wb.page(
            request,
            "search.html",
            q=q,
            found=found,
            totals=totals,
            field=field,
            pivot=pivot,
            pivot_total=pivot_total,
            pg=pg,
            pages=pages,
            query=query,
        )

    def case_page(request: Request) -> Response:
        cid = request.path_params["crew"]
        with snapshots.cursor() as con:
            found = entities.crews(con, cid)
        if not found:
            return not_found(request, f"crew {cid}")
        return wb.page(request, "case.html", c=found[0])

    def case_file(request: Request) -> Response:
        cid, name = request.path_params["crew"], request.path_params["file"]
        if name not in ("case.html", "case.stix.json", "case.json"):
            return not_found(request, name)
        with snapshots.cursor() as con:
            if not entities.crews(con, cid):
                return not_found(request, f"crew {cid}")
        body = (wb.case_dir(cid) / name).read_bytes()
        if name == "case.html":
            meta = _META_CSP.search(body[:20000].decode("utf-8", "replace"))
            csp = (meta.group(1) if meta else "default-src 'none'") + "; frame-ancestors 'none'"
            return Response(
                body, media_type="text/html; charset=utf-8", headers={"content-security-policy": csp}
            )
        return Response(
            body,
            media_type="application/json",
            headers={"content-disposition": f'attachment; filename="{_safe(cid)}-{name}"'},
        )

    routes = [
        Route("/healthz", healthz),
        Route("/static/{name}", static),
        Route("/favicon.ico", favicon),
        Route("/", overview),
        Route("/alerts", alert_list),
        Route("/alerts/{id}", alert_page),
        Route("/keys/{fingerprint}", key_page),
        Route("/crews", crew_list),
        Route("/crews/{id}", crew_page),
        Route("/events/{id}", event_page),
        Route("/search", search_page),
        Route("/cases/{crew}", case_page),
        Route("/cases/{crew}/{file}", case_file),
        Route("/api/alerts", alert_list, name="api_alerts"),
        Route("/api/alerts/{id}", alert_page, name="api_alert"),
        Route("/api/keys/{fingerprint}", key_page, name="api_key"),
        Route("/api/crews", crew_list, name="api_crews"),
        Route("/api/crews/{id}", crew_page, name="api_crew"),
        Route("/api/search", search_page, name="api_search"),
    ]

    async def missing(request: Request, exc: Exception) -> Response:
        return not_found(request, request.url.path)

    app = Starlette(routes=routes, exception_handlers={404: missing})
    app.state.workbench = wb
    return app  # the TokenGate is put around it by ``asgi``


def asgi(config: ServeConfig, snapshots: Snapshots) -> TokenGate:
    """The application as the server runs it: the routes behind the token gate."""
    return TokenGate(create_app(config, snapshots), config.token)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def _jsonable(value: Any) -> Any:
    """Values DuckDB returns (Decimal, datetime) as JSON-ready ones."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
