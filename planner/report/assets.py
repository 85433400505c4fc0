"""The report page's stylesheet and script, inlined into every report (no network at view time).

The script is small and dependency-free: CSV downloads built as Blobs from the
embedded JSON data, sortable tables, tabs.  It records uncaught errors in
``body[data-errors]`` and sets ``body[data-ok]`` when it has run, so a headless
browser's dumped DOM shows whether the page worked.  Opened with ``#selftest``
it also exercises its own functions and writes the outcome to ``body[data-selftest]``.
"""

CSS = r"""
:root{--ink:#1d2733;--muted:#5f6b7a;--line:#dfe3e9;--bg:#f4f6f9;--card:#fff;--accent:#1f5fa8;
--warn-bg:#fff4e0;--warn:#8a5300;--bad-bg:#fdecea;--bad:#9b1c1c;--ok:#1e7e34}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
header.top{background:#14263d;color:#fff;padding:22px 0 18px}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
header.top h1{margin:0;font-size:24px;font-weight:650;letter-spacing:.2px}
header.top .sub{color:#c5d2e3;margin-top:4px;font-size:13px}
header.top .pill{display:inline-block;padding:2px 9px;border-radius:10px;font-size:12px;font-weight:650;
margin-left:10px;vertical-align:middle;background:#2e7d4f;color:#fff}
header.top .pill.warn{background:#d38b00}
header.top .pill.bad{background:#c0392b}
nav.toc{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line)}
nav.toc .wrap{display:flex;gap:4px;flex-wrap:wrap;padding-top:6px;padding-bottom:6px}
nav.toc a{color:var(--ink);text-decoration:none;padding:4px 10px;border-radius:4px;font-size:13px}
nav.toc a:hover{background:var(--bg)}
main{padding:18px 0 40px}
section.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:18px 22px 20px;margin:0 0 18px}
section.card>h2{margin:0 0 4px;font-size:18px}
p.lead{margin:2px 0 14px;color:var(--muted);max-width:920px}
h3{font-size:14px;margin:18px 0 6px}
.banner{border-radius:6px;padding:10px 14px;margin:0 0 12px;border:1px solid}
.banner.warn{background:var(--warn-bg);border-color:#f0c36d;color:var(--warn)}
.banner.bad{background:var(--bad-bg);border-color:#f1a9a0;color:var(--bad)}
.banner.info{background:#eef4fb;border-color:#bcd3ee;color:#1b3f66}
.banner b{font-weight:700}
.summary{font-size:15px;max-width:960px;margin:0 0 14px}
.cards{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px;margin:0 0 8px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fbfcfd}
.kpi .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px}
.kpi .v{font-size:22px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.kpi .d{font-size:12px;color:var(--muted);margin-top:2px}
.kpi .v .from{color:var(--muted);font-weight:500;font-size:16px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:8px 28px;align-items:start}
.split{display:grid;grid-template-columns:minmax(0,1.15fr) minmax(0,1fr);gap:8px 32px;align-items:start}
.split h3{margin-top:12px}
.grid3{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:8px 18px;align-items:start}
figure{margin:14px 0 10px}
figure figcaption{font-size:12.5px;color:var(--muted);margin:2px 0 6px}
figure figcaption b{color:var(--ink)}
svg.chart{max-width:100%;height:auto;display:block;font-family:inherit}
svg.chart .band{opacity:.55}
svg.chart .band:hover{opacity:.9}
svg.chart .cell:hover,svg.chart .seg:hover,svg.chart .dot:hover{stroke:#000;stroke-width:1.5}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12.5px;color:var(--muted);margin:2px 0 8px}
.legend .key i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px;border:2px solid}
.tabs{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0 10px}
.tabs button{font:inherit;font-size:12.5px;border:1px solid var(--line);background:#fff;border-radius:14px;padding:3px 11px;cursor:pointer;color:var(--ink)}
.tabs button[aria-selected=true]{background:var(--accent);border-color:var(--accent);color:#fff}
.tblwrap{overflow-x:auto;margin:4px 0 6px}
.tblhead{display:flex;align-items:baseline;justify-content:space-between;gap:10px;margin-top:12px}
.tblhead .cap{font-weight:600;font-size:13.5px}
table.t{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums;min-width:50%}
table.t th,table.t td{padding:4px 9px;border-bottom:1px solid var(--line);white-space:nowrap}
table.t th{text-align:left;background:#f7f8fa;font-weight:600;position:sticky;top:0;cursor:pointer;user-select:none}
table.t th.n,table.t td.n{text-align:right}
table.t th.grp{text-align:center;cursor:default;border-bottom:2px solid var(--line);font-size:12px;color:var(--muted)}
table.t th.grp:empty{border-bottom:none}
table.t th[aria-sort=ascending]::after{content:" \25B2";font-size:9px}
table.t th[aria-sort=descending]::after{content:" \25BC";font-size:9px}
table.t tbody tr:hover{background:#f3f7fc}
table.t td.bad{color:var(--bad);font-weight:600}
table.t td.good{color:var(--ok)}
table.t tr.group td{font-weight:600;background:#fbfcfd}
button.dl{font:inherit;font-size:12px;border:1px solid var(--line);background:#fff;border-radius:4px;padding:2px 9px;
cursor:pointer;color:var(--accent)}
button.dl:hover{background:#eef4fb}
h3 button.dl,figcaption button.dl{margin-left:8px;vertical-align:1px;font-weight:400}
button.dl::before{content:"\2193  "}
details{margin:8px 0}
details summary{cursor:pointer;color:var(--accent);font-size:13px}
ul.files{list-style:none;padding:0;margin:6px 0;display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:6px 20px}
ul.files li{display:flex;justify-content:space-between;align-items:center;border-bottom:1px dotted var(--line);padding:3px 0}
ul.files code{font-size:12.5px}
ul.files .meta{color:var(--muted);font-size:12px;margin-left:8px;flex:1}
pre.json{background:#f7f8fa;border:1px solid var(--line);border-radius:6px;padding:10px;font-size:12px;overflow:auto;max-height:340px}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}.grid3,.split{grid-template-columns:1fr}}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 30px}
.muted{color:var(--muted)}
@media print{
 body{background:#fff;font-size:12px}
 nav.toc,button.dl,.tabs,details summary{display:none}
 .tab-panel[hidden]{display:block!important}
 section.card{break-inside:avoid-page;border:none;padding:8px 0}
 header.top{background:#fff;color:#000;padding:0 0 8px;border-bottom:2px solid #000}
 header.top .sub{color:#333}
}
"""

JS = r"""
(function () {
  'use strict';
  var body = document.body;
  var errors = [];
  function record(msg) { errors.push(String(msg)); body.setAttribute('data-errors', errors.join(' | ')); }
  window.addEventListener('error', function (e) { record(e.message || e); });
  window.addEventListener('unhandledrejection', function (e) { record(e.reason); });

  // Read at use, not once: the explorer (planner/serve) replaces the data with every re-solved plan.
  function store() { return JSON.parse(document.getElementById('fs-data').textContent); }

  function csvCell(v) {
    if (v === null || v === undefined) return '';
    var s = typeof v === 'string' ? v : (typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v));
    // CSV injection: text a spreadsheet would run as a formula gets a leading ' (planner.results.export.neutralise_text).
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
    if (/[",\r\n]/.test(s) || /^\s|\s$/.test(s)) s = '"' + s.replace(/"/g, '""') + '"';
    return s;
  }
  function toCsv(t) {
    var lines = [t.columns.map(csvCell).join(',')];
    for (var i = 0; i < t.rows.length; i++) lines.push(t.rows[i].map(csvCell).join(','));
    return lines.join('\n') + '\n';
  }
  function download(id) {
    var t = store().tables[id];
    var blob = new Blob([toCsv(t)], {type: 'text/csv;charset=utf-8'});
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    a.href = url; a.download = t.file; a.style.display = 'none';
    body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 0);
  }

  function cellValue(td) {
    var v = td.getAttribute('data-v');
    if (v === null) v = td.textContent;
    return v;
  }
  function sortBy(th) {
    var table = th.closest('table');
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    var vals = rows.map(function (r) { return cellValue(r.cells[idx]); });
    var numeric = vals.every(function (v) { return v === '' || isFinite(Number(v)); });
    var keyed = rows.map(function (r, k) { return {r: r, v: vals[k], k: k}; });
    keyed.sort(function (a, b) {
      var x = a.v, y = b.v, c;
      if (numeric) {
        if (x === '' && y === '') c = 0; else if (x === '') c = 1; else if (y === '') c = -1;
        else c = Number(x) - Number(y);
        if (x === '' || y === '') return c || a.k - b.k;  // blanks last either way
      } else c = String(x).localeCompare(String(y));
      return (asc ? c : -c) || a.k - b.k;
    });
    keyed.forEach(function (o) { tbody.appendChild(o.r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  }

  function selectTab(btn) {
    var group = btn.closest('[data-tabs]');
    var name = group.getAttribute('data-tabs');
    var want = btn.getAttribute('data-tab');
    group.querySelectorAll('button[data-tab]').forEach(function (b) {
      b.setAttribute('aria-selected', b === btn ? 'true' : 'false');
    });
    document.querySelectorAll('.tab-panel[data-group="' + name + '"]').forEach(function (p) {
      p.hidden = p.getAttribute('data-panel') !== want;
    });
  }

  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-download]');
    if (b) { download(b.getAttribute('data-download')); return; }
    var th = e.target.closest('table.t thead tr:last-child th');
    if (th) { sortBy(th); return; }
    var tab = e.target.closest('[data-tabs] button[data-tab]');
    if (tab) selectTab(tab);
  });

  if (location.hash === '#selftest') {
    var out = {csv: {}, sort: null, tabs: null};
    Object.keys(store().tables).forEach(function (id) {
      var csv = toCsv(store().tables[id]);
      out.csv[id] = {lines: csv.split('\n').length - 2, header: csv.slice(0, csv.indexOf('\n'))};
    });
    var th = null;
    document.querySelectorAll('table.t thead tr:last-child th.n').forEach(function (h) { if (!th) th = h; });
    if (th) {
      th.click();
      var i = Array.prototype.indexOf.call(th.parentNode.children, th);
      var vs = Array.prototype.map.call(th.closest('table').tBodies[0].rows, function (r) { return cellValue(r.cells[i]); })
        .filter(function (v) { return v !== ''; }).map(Number);
      var ok = true;
      for (var k = 1; k < vs.length; k++) if (vs[k - 1] > vs[k]) ok = false;
      out.sort = {rows: vs.length, ascending: ok};
    }
    var tabs = document.querySelectorAll('[data-tabs] button[data-tab]');
    if (tabs.length > 1) {
      var last = tabs[tabs.length - 1];
      last.click();
      var g = last.closest('[data-tabs]').getAttribute('data-tabs');
      var shown = Array.prototype.filter.call(document.querySelectorAll('.tab-panel[data-group="' + g + '"]'),
        function (p) { return !p.hidden; }).map(function (p) { return p.getAttribute('data-panel'); });
      out.tabs = {wanted: last.getAttribute('data-tab'), shown: shown};
    }
    body.setAttribute('data-selftest', JSON.stringify(out));
  }
  body.setAttribute('data-ok', '1');
})();
"""
