"""`friendshore serve`: the Starlette application of the explorer.

Why Starlette: the page is the report's own HTML sections (planner/report) swapped in by a little
script, so a data-app framework (Dash, Panel, Shiny) would add a second chart library and a second
way to draw the plan; a small ASGI app with uvicorn serves the same SVG the report draws, works
offline (no CDN: every byte comes from this process), and keeps the solving in our own worker.

Routes (all relative, so the page works behind a path prefix):
  GET  /                      the page (controls from the policy schema; a study folder: its report)
  POST /api/solve             {"seq": n, "settings": {--set key: value}} -> the re-solved plan as JSON
  POST /api/cancel            stop the session's running solve (its best plan so far comes back)
  GET  /api/download/{name}   tables.zip | results.xlsx | report.html of the session's last plan
  GET  /runs/{run_id}         a study run's report (run ids from the study's own table only)
"""

from __future__ import annotations

import html
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from planner.serve.controls import Control, controls
from planner.serve.session import Explorer

SESSION_HEADER = "X-FS-Session"
MAX_BODY = 64_000
"""Largest request body accepted (settings of every control fit in a few kB)."""


def reproduce(path: Path, settings: dict[str, Any]) -> dict[str, str]:
    """The CLI command and the study-file scenario that give the page's current plan."""
    def flow(v: Any) -> str:
        return yaml.safe_dump(v, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()

    variant = settings.get("variant")
    sets = [(k, v) for k, v in settings.items() if k != "variant"]
    cmd = f"friendshore solve {path}" + (f" --variant {variant}" if variant else "") + "".join(
        f" --set '{k}={flow(v)}'" for k, v in sets)
    scen = "scenarios:\n  explorer:" + ("".join(f"\n    {k}: {flow(v)}" for k, v in sets) if sets else " {}")
    if variant:
        scen = f"variant: {variant}  # the study's base variant\n" + scen
    return {"command": cmd, "yaml": scen}


# --------------------------------------------------------------------------- page
def _control_html(c: Control) -> str:
    key, label, h = html.escape(c.key), html.escape(c.label), html.escape(c.help, quote=True)
    on = c.value is not None
    if c.kind == "level":
        v = c.value if isinstance(c.value, (int, float)) else 0.5
        return (f'<div class="ctl" data-key="{key}" data-kind="level" title="{h}"><label><input type="checkbox" '
                f'class="on"{" checked" if on else ""}> {label}</label><input type="range" min="0" max="1" step="0.01" '
                f'value="{v:g}"{"" if on else " disabled"}><output>{f"{v:.2f}" if on else "off"}</output></div>')
    if c.kind == "value":
        lo, hi = c.bounds
        return (f'<div class="ctl" data-key="{key}" data-kind="value" title="{h}"><label>{label}</label>'
                f'<input type="range" min="{lo:g}" max="{hi:g}" step="{(hi - lo) / 100:g}" value="{c.value:g}">'
                f'<output>{c.value:g}</output></div>')
    if c.kind in ("count", "number"):
        v = "" if c.value is None else f"{c.value:g}"
        step = "1" if c.kind == "count" else "any"
        return (f'<div class="ctl" data-key="{key}" data-kind="{c.kind}" title="{h}"><label>{label}</label>'
                f'<input type="number" min="0" step="{step}" value="{v}"></div>')
    if c.kind == "flag":
        return (f'<div class="ctl" data-key="{key}" data-kind="flag" title="{h}"><label><input type="checkbox"'
                f'{" checked" if c.value else ""}> {label}</label></div>')
    if c.kind == "choice":
        opts = "".join(f'<option{" selected" if o == c.value else ""}>{html.escape(str(o))}</option>' for o in c.options)
        return (f'<div class="ctl" data-key="{key}" data-kind="choice" title="{h}"><label>{label}</label>'
                f'<select>{opts}</select></div>')
    boxes = "".join(f'<label class="opt"><input type="checkbox" value="{html.escape(str(o))}"'
                    f'{" checked" if o in (c.value or []) else ""}> {html.escape(str(o))}</label>' for o in c.options)
    return f'<div class="ctl" data-key="{key}" data-kind="multi" title="{h}"><label>{label}</label>{boxes}</div>'


def page(ex: Explorer, ctls: list[Control]) -> str:
    from planner.report.assets import CSS, JS

    inst = ex.base
    groups: dict[str, list[str]] = {}
    for c in ctls:
        groups.setdefault(c.section, []).append(_control_html(c))
    if inst.meta.variants:
        opts = "<option value=''>(none)</option>" + "".join(
            f"<option>{html.escape(v)}</option>" for v in inst.meta.variants)
        groups.setdefault("policy", []).insert(0, f'<div class="ctl" data-key="variant" data-kind="choice">'
                                                  f'<label>variant</label><select>{opts}</select></div>')
    titles = {"policy": "Policy", "items": "Per item", "programmes": "Subsidy programmes",
              "uncertain inputs": "Uncertain inputs (ranges.csv)"}
    panel = "".join(f'<details{" open" if g == "policy" else ""}><summary>{titles.get(g, g)}</summary>{"".join(x)}'
                    f"</details>" for g, x in groups.items())
    csp = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
           "connect-src 'self'; base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Friendshore explorer: {html.escape(inst.meta.name)}</title><style>{CSS}{EXPLORER_CSS}</style></head>\n"
        f'<body><header class="top"><div class="wrap"><h1>{html.escape(inst.meta.name)} '
        '<span class="pill">explorer</span></h1><div class="sub">Move a control: the plan is re-solved and '
        'redrawn. Friendshore explorer · local, offline</div></div></header>'
        '<div class="xp"><aside class="controls"><div class="bar"><button id="reset">reset</button> '
        '<button id="cancel" disabled>cancel</button> '
        f'<span id="state" aria-live="polite">ready</span></div>{panel}</aside>'
        '<main class="wrap"><section class="card" id="now"><h2>This plan</h2><div id="kpis"></div>'
        '<div class="bar"><button id="pin">pin this plan</button> <span class="note">up to three; the '
        'differences from the first pin are highlighted</span></div><div id="pins"></div>'
        '<h3>Reproduce this</h3><pre id="cmd"></pre><pre id="yaml"></pre>'
        '<p class="dl">Download: <a href="api/download/tables.zip">tables (CSV)</a> · '
        '<a href="api/download/results.xlsx">results.xlsx</a> · <a href="api/download/report.html">report</a></p>'
        '<div id="problem"></div></section><div id="sections"></div></main></div>'
        '<script type="application/json" id="fs-data">{"tables": {}}</script>\n'
        f"<script>{JS}</script><script>{EXPLORER_JS}</script></body></html>\n"
    )


EXPLORER_CSS = r"""
.xp{display:grid;grid-template-columns:320px 1fr;gap:0;align-items:start}
aside.controls{position:sticky;top:0;max-height:100vh;overflow:auto;padding:10px 12px;border-right:1px solid #ddd;
  background:#fafafa;font-size:13px}
aside .ctl{margin:6px 0}aside .ctl label{display:block}aside .ctl label.opt{display:inline-block;margin-right:8px}
aside input[type=range]{width:70%;vertical-align:middle}aside output{margin-left:6px;font-variant-numeric:tabular-nums}
aside input[type=number]{width:9em}aside summary{font-weight:600;margin:8px 0 4px;cursor:pointer}
.bar{margin:6px 0}#state{color:#555}.kp{display:inline-block;margin:4px 14px 4px 0}.kp b{display:block;font-size:18px}
table.pins td.diff{background:#fff3c4;font-weight:600}pre{white-space:pre-wrap;background:#f4f4f4;padding:6px}
#problem .warn{color:#a40000}
"""

EXPLORER_JS = r"""
(function () {
  'use strict';
  var body = document.body, seq = 0, timer = null, pins = [], current = null, changed = null, ticker = null;
  var dirty = {};
  var session = body.getAttribute('data-session');
  document.querySelectorAll('p.dl a').forEach(function (a) {
    a.href = a.getAttribute('href') + '?session=' + encodeURIComponent(session);
  });
  function ctlValue(el) {
    var kind = el.getAttribute('data-kind');
    if (kind === 'level') {
      var on = el.querySelector('input.on').checked;
      return on ? Number(el.querySelector('input[type=range]').value) : null;
    }
    if (kind === 'value') return Number(el.querySelector('input[type=range]').value);
    if (kind === 'count' || kind === 'number') {
      var v = el.querySelector('input').value;
      return v === '' ? null : (kind === 'count' ? parseInt(v, 10) : Number(v));
    }
    if (kind === 'flag') return el.querySelector('input').checked;
    if (kind === 'choice') return el.querySelector('select').value;
    return Array.prototype.filter.call(el.querySelectorAll('input[type=checkbox]'), function (b) { return b.checked; })
      .map(function (b) { return b.value; });
  }
  function settings() {
    var out = {};
    document.querySelectorAll('aside [data-key]').forEach(function (el) {
      var k = el.getAttribute('data-key');
      if (!dirty[k]) return;
      var v = ctlValue(el);
      if (k === 'variant' && v === '') return;
      out[k] = v;
    });
    return out;
  }
  function fmt(v, kind) {  // kind: pct (already in %), share (a fraction), money
    if (v === null || v === undefined || (typeof v === 'number' && !isFinite(v))) return '–';
    if (kind === 'pct') return (v >= 0 ? '+' : '') + v.toFixed(2) + ' %';
    if (kind === 'share') return (100 * v).toFixed(1) + ' %';
    return Math.round(v).toLocaleString('en');
  }
  function kpiRows(r) {
    var k = r.kpis, w = r.worst_tier;
    return [['total cost (' + r.currency + ')', k.total_cost, 'money'], ['premium vs cost-only', k.premium_vs_cost_only_pct, 'pct'],
      ['premium vs today', k.premium_vs_baseline_pct, 'pct'], ['largest one-country share', k.max_country_share, 'share'],
      ['largest ' + w + ' share', k['max_' + w + '_share'], 'share'], ['public subsidy (' + r.currency + ')', k.public_subsidy, 'money']];
  }
  function showKpis(r) {
    document.getElementById('kpis').innerHTML = kpiRows(r).map(function (x) {
      return '<span class="kp" data-kpi="' + x[0] + '">' + x[0] + '<b>' + fmt(x[1], x[2]) + '</b></span>';
    }).join('') + '<span class="kp">status<b data-status>' + r.status + (r.proven_optimal ? '' : ' (gap ' +
      fmt(r.gap, 'share') + ')') + '</b></span>';
  }
  function showPins() {
    if (!pins.length) { document.getElementById('pins').innerHTML = ''; return; }
    var rows = kpiRows(pins[0].r).map(function (x, i) {
      return '<tr><td>' + x[0] + '</td>' + pins.map(function (p) {
        var v = kpiRows(p.r)[i][1], v0 = kpiRows(pins[0].r)[i][1];
        var diff = p !== pins[0] && Math.abs((v || 0) - (v0 || 0)) > 1e-9 * Math.max(1, Math.abs(v0 || 0));
        return '<td class="n' + (diff ? ' diff' : '') + '">' + fmt(v, x[2]) + '</td>';
      }).join('') + '</tr>';
    }).join('');
    var head = '<tr><th>KPI</th>' + pins.map(function (p, i) {
      return '<th title="' + p.label.replace(/"/g, '&quot;') + '">plan ' + (i + 1) + '</th>'; }).join('') + '</tr>';
    var labels = pins.map(function (p, i) { return '<li>plan ' + (i + 1) + ': ' + (p.label || 'the instance as given')
      .replace(/&/g, '&amp;').replace(/</g, '&lt;') + '</li>'; }).join('');
    document.getElementById('pins').innerHTML = '<table class="t pins"><thead>' + head + '</thead><tbody>' + rows +
      '</tbody></table><ul>' + labels + '</ul>';
  }
  function apply(r, ms) {
    clearInterval(ticker);
    document.getElementById('cancel').disabled = true;
    body.setAttribute('data-timing', JSON.stringify(r.timing || {}));
    var prob = document.getElementById('problem');
    document.getElementById('cmd').textContent = r.reproduce ? r.reproduce.command : '';
    document.getElementById('yaml').textContent = r.reproduce ? r.reproduce.yaml : '';
    if (r.status === 'invalid') {
      prob.innerHTML = '<p class="warn">' + r.problems.map(function (p) {
        return p.replace(/&/g, '&amp;').replace(/</g, '&lt;'); }).join('<br>') + '</p>';
      setState('not solved: a value is out of range');
    } else if (r.status === 'infeasible') {
      prob.innerHTML = '<p class="warn" id="diagnosis">' + r.headline.replace(/&/g, '&amp;').replace(/</g, '&lt;') + '</p>';
      document.getElementById('sections').innerHTML = Object.keys(r.sections).map(function (k) { return r.sections[k]; }).join('');
      setState('no feasible plan under these settings');
    } else if (r.status === 'optimal' || r.status === 'feasible') {
      prob.innerHTML = '';
      current = r;
      showKpis(r);
      document.getElementById('fs-data').textContent = JSON.stringify(r.data);
      document.getElementById('sections').innerHTML = Object.keys(r.sections).map(function (k) { return r.sections[k]; }).join('');
      var t = r.timing || {};
      setState('solved in ' + Math.round(ms) + ' ms (HiGHS ' + Math.round(1000 * (t.highs_s || 0)) + ' ms, ' +
        (t.reused ? 're-solved in place' : 'built') + ')');
    } else setState(r.status + (r.message ? ': ' + r.message : ''));
    body.setAttribute('data-status', r.status);
    // Latency from the control change to the drawn page: stamped after the browser has laid it out.
    var start = changed;
    requestAnimationFrame(function () { requestAnimationFrame(function () {
      if (start !== null) body.setAttribute('data-latency-ms', String(Math.round(performance.now() - start)));
      body.setAttribute('data-seq', String(r.seq));
    }); });
  }
  function setState(t) { document.getElementById('state').textContent = t; }
  function send() {
    var my = ++seq, t0 = performance.now(), s = settings();
    setState('solving ...');
    clearInterval(ticker);
    ticker = setInterval(function () {
      setState('solving ... ' + ((performance.now() - t0) / 1000).toFixed(1) + ' s');
      document.getElementById('cancel').disabled = false;
    }, 1000);
    fetch('api/solve', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-FS-Session': session},
      body: JSON.stringify({seq: my, settings: s})})
      .then(function (res) { return res.json(); })
      .then(function (r) {
        if (r.status === 'superseded' || r.seq !== seq) return;  // a newer request is on its way
        r.label = Object.keys(s).map(function (k) { return k + '=' + JSON.stringify(s[k]); }).join(', ');
        apply(r, performance.now() - t0);
      })
      .catch(function (e) { setState('the server did not answer: ' + e); });
  }
  function schedule() { changed = performance.now(); clearTimeout(timer); timer = setTimeout(send, 10); }
  document.querySelectorAll('aside [data-key]').forEach(function (el) {
    el.addEventListener('input', function (e) {
      dirty[el.getAttribute('data-key')] = true;
      if (el.getAttribute('data-kind') === 'level') {
        var on = el.querySelector('input.on').checked, range = el.querySelector('input[type=range]');
        range.disabled = !on;
        el.querySelector('output').textContent = on ? Number(range.value).toFixed(2) : 'off';
      } else if (el.getAttribute('data-kind') === 'value') {
        el.querySelector('output').textContent = Number(el.querySelector('input[type=range]').value).toPrecision(4);
      }
      schedule();
    });
  });
  document.getElementById('reset').addEventListener('click', function () { location.reload(); });
  document.getElementById('cancel').addEventListener('click', function () {
    fetch('api/cancel', {method: 'POST', headers: {'X-FS-Session': session}});
    setState('cancelling: the best plan so far comes back, not proven optimal');
  });
  document.getElementById('pin').addEventListener('click', function () {
    if (!current) return;
    if (pins.length >= 3) pins.shift();
    pins.push({r: current, label: current.label});
    showPins();
  });
  send();
})();
"""


# --------------------------------------------------------------------------- app
def create_app(path: Path, *, time_limit: float = 10.0):
    """The explorer of an instance folder or workbook, or the browser of a finished study folder."""
    from planner.report.reader import read_folder
    from planner.solve.highs import SolveOptions

    path = Path(path)
    if (path / "results.csv").exists() or (path / "results.parquet").exists():
        return _study_app(read_folder(path))
    from planner.instance.io import load_instance

    ex = Explorer(path, load_instance(path), SolveOptions(time_limit=time_limit))
    ctls = controls(ex.base)
    allowed = {c.key for c in ctls} | ({"variant"} if ex.base.meta.variants else set())
    body = page(ex, ctls)

    def session_of(request: Request, create: bool = False):
        """The page's session: a new one per page load (so tabs and reloads never share settings or
        sequence numbers), named by the X-FS-Session header of the page's script (a header a
        cross-site form cannot send) or, for downloads, the session query parameter."""
        if create:
            return ex.session(None)
        sid = request.headers.get(SESSION_HEADER) or request.query_params.get("session")
        return ex.sessions.get(sid) if sid else None

    def unknown() -> Response:
        return JSONResponse({"status": "error", "message": "unknown or expired session: reload the page"},
                            status_code=409)

    async def index(request: Request) -> Response:
        s = session_of(request, create=True)
        return HTMLResponse(body.replace("<body>", f'<body data-session="{s.id}">', 1),
                            headers={"Cache-Control": "no-store"})

    async def solve(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return unknown()
        raw = await request.body()
        try:
            if len(raw) > MAX_BODY:
                raise ValueError("request too large")
            msg = json.loads(raw)
            seq, settings = int(msg["seq"]), dict(msg.get("settings") or {})
        except (ValueError, KeyError, TypeError) as e:
            return JSONResponse({"status": "error", "message": f"bad request: {e}"}, status_code=400)
        s.latest = max(s.latest, seq)
        try:
            out = await run_in_threadpool(ex.solve, s, seq, settings, allowed)
        except Exception as exc:  # noqa: BLE001 - the server never crashes on a request; the page says why
            return JSONResponse({"status": "error", "seq": seq, "message": f"{type(exc).__name__}: {exc}"})
        payload = dict(out.payload)
        payload["reproduce"] = reproduce(path, settings)
        return JSONResponse(_jsonable(payload))

    async def cancel(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return unknown()
        s.cancel.set()  # the running solve of this session stops at HiGHS's next check
        return JSONResponse({"status": "cancelling"})

    async def download(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return unknown()
        name = request.path_params["name"]
        if s.last is None:
            return JSONResponse({"status": "error", "message": "no plan solved yet"}, status_code=404)
        return await run_in_threadpool(_download, path, s.last, name)

    return Starlette(routes=[Route("/", index), Route("/api/solve", solve, methods=["POST"]),
                             Route("/api/cancel", cancel, methods=["POST"]), Route("/api/download/{name}", download)])


def _download(path: Path, last, name: str) -> Response:
    from planner.report.page import build_html
    from planner.report.reader import Folder
    from planner.results.export import export_tables

    if name == "report.html":
        return HTMLResponse(build_html(Folder(path, "solve", dict(last.tables), {}, last.record)),
                            headers={"Content-Disposition": 'attachment; filename="report.html"'})
    fmt = {"tables.zip": "csv", "results.xlsx": "xlsx"}.get(name)
    if fmt is None:
        return JSONResponse({"status": "error", "message": "unknown download"}, status_code=404)
    with tempfile.TemporaryDirectory() as d:
        files = export_tables(last.tables, Path(d), (fmt,))
        if fmt == "xlsx":
            data, kind = files[0].read_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for f in files:
                    z.write(f, f.name)
                # The plan's provenance, as a solve writes it: inputs' hashes, the settings, status and gap.
                z.writestr("run.json", json.dumps(last.record, indent=2, default=str))
            data, kind = buf.getvalue(), "application/zip"
    return Response(data, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _study_app(folder):
    from planner.report.page import build_html
    from planner.report.reader import read_folder

    runs = set(folder.tables["results"]["run_id"].astype(str))
    page_html = build_html(folder)

    async def index(request: Request) -> Response:
        return HTMLResponse(page_html)

    async def run(request: Request) -> Response:
        rid = request.path_params["run_id"]
        if rid not in runs or not (folder.path / "runs" / rid).is_dir():  # only the study's own runs
            return JSONResponse({"status": "error", "message": "no such run in this study"}, status_code=404)
        return HTMLResponse(await run_in_threadpool(lambda: build_html(read_folder(folder.path / "runs" / rid))))

    return Starlette(routes=[Route("/", index), Route("/runs/{run_id}", run)])


def _jsonable(x: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    import math

    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            return _jsonable(x.item())
        except (ValueError, TypeError):
            return str(x)
    return x


def serve(path: Path, host: str = "127.0.0.1", port: int = 8050, time_limit: float = 10.0) -> None:
    import uvicorn

    uvicorn.run(create_app(path, time_limit=time_limit), host=host, port=port, log_level="warning")
