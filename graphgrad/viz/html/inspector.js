// graphgrad inspector: the page's own script (inlined by graphgrad.viz.html.to_html).
// Data: the JSON blob #gg-data (node records, per-step metrics, findings, layouts);
// layouts: one <script type="text/x-gg-svg"> per SVG, mounted when its view is shown.
// Scripting handle: window.ggInspector (nodes, select, setView, findings...).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const D = JSON.parse($("gg-data").textContent);
  const byId = new Map(D.nodes.map((n) => [n.id, n]));
  const canvas = $("canvas"), details = $("details"), legend = $("legend");
  const VIEWS = {
    forward: { layout: "forward", metric: null, title: "forward: ops, tensors, shapes" },
    backward: { layout: "backward", metric: null, title: "backward: gradient flow, Jacobian shapes" },
    grad: { layout: "forward", metric: "grad_norm", title: "gradient health: ‖grad‖₂, log scale" },
    update: { layout: "forward", metric: "update_ratio", title: "update ratio ‖Δθ‖/‖θ‖, log scale" },
    stats: { layout: "forward", metric: "zero_frac", title: "forward stats: share of zeros, NaN/inf" },
  };
  const state = { view: "forward", expanded: !D.collapsed, step: D.steps.length - 1,
                  selected: null, mounted: null, svg: null, groups: new Map(), full: null,
                  bands: [],
                  vb: null, matches: [] };

  // ------------------------------------------------------------------ metrics
  function metric(id, name, step) {
    const series = D.metrics[id];
    const row = series && series[step === undefined ? state.step : step];
    if (!row) return null;
    const v = row[D.metricNames.indexOf(name)];
    if (v === "nan") return NaN;
    if (v === "inf") return Infinity;
    if (v === "-inf") return -Infinity;
    return v;
  }
  function magnitude(id, name, step) {
    const v = metric(id, name, step);
    return v === null && name === "grad_norm" ? metric(id, "param_grad_norm", step) : v;
  }
  // (lo, hi) in log10 of the finite positive values, at least one decade (viz/health.py)
  function scaleOf(values) {
    const logs = values.filter((v) => v !== null && isFinite(v) && v > 0).map(Math.log10);
    if (!logs.length) return null;
    let lo = Math.min(...logs), hi = Math.max(...logs);
    if (hi - lo < 1) { const mid = (hi + lo) / 2; lo = mid - 0.5; hi = mid + 0.5; }
    return [lo, hi];
  }
  function heat(t) {
    const H = D.colors.heat;
    return H[Math.min(H.length - 1, Math.max(0, Math.round(t * (H.length - 1))))];
  }
  function colourFor(v, scale, linear) {
    if (v === null || v === undefined) return "#ffffff";
    if (!isFinite(v)) return D.colors.bad;
    if (linear) return v >= 1 ? D.colors.zero : heat(v);
    if (v === 0) return D.colors.zero;
    if (!scale) return "#ffffff";
    return heat((Math.log10(v) - scale[0]) / (scale[1] - scale[0]));
  }

  // ------------------------------------------------------------------ layouts
  function layoutKey() {
    const L = D.layouts[VIEWS[state.view].layout];
    return !state.expanded && L.collapsed ? L.collapsed : L.full;
  }
  function mount() {
    const key = layoutKey();
    if (state.mounted === key) return;
    canvas.innerHTML = $("gg-svg-" + key).textContent;
    const svg = canvas.querySelector("svg");
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    const b = svg.viewBox.baseVal;
    state.full = { x: b.x, y: b.y, w: b.width, h: b.height };
    state.vb = Object.assign({}, state.full);
    state.svg = svg;
    state.groups = new Map();
    for (const g of svg.querySelectorAll("g.node[data-gg]")) {
      state.groups.set(g.dataset.gg, g);
      const shape = Array.from(g.querySelectorAll("path,polygon,ellipse,rect"))
        .find((s) => (s.getAttribute("fill") || "none") !== "none");
      if (shape) { g.ggShape = shape; g.ggFill = shape.getAttribute("fill"); }
    }
    state.bands = Array.from(svg.querySelectorAll("g.band")).map((el) =>
      ({ el: el, parent: el.parentNode, y0: +el.dataset.y0, y1: +el.dataset.y1, on: true }));
    for (const band of state.bands) for (const g of band.el.querySelectorAll("g.node")) g.ggBand = band;
    state.mounted = key;
    applyViewBox();
  }
  function recolour() {
    const m = VIEWS[state.view].metric;
    const ids = Array.from(state.groups.keys());
    const values = m ? ids.map((id) => (m === "zero_frac" ? statValue(id) : magnitude(id, m))) : [];
    const scale = m && m !== "zero_frac" ? scaleOf(values) : null;
    ids.forEach((id, i) => {
      const g = state.groups.get(id);
      if (!g.ggShape) return;
      g.ggShape.setAttribute("fill", m ? colourFor(values[i], scale, m === "zero_frac") : g.ggFill);
    });
    renderLegend(scale, m, values.some((v) => v !== null));
  }
  function statValue(id) {
    const bad = metric(id, "nonfinite_frac");
    if (bad) return NaN;
    return metric(id, "zero_frac");
  }

  // ------------------------------------------------------------------ pan and zoom
  function applyViewBox() {
    const v = state.vb;
    state.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    // the layered layout's bands off screen are not drawn (a 10^4-node SVG stays fluid)
    const c = canvas.getBoundingClientRect(), u = unitsPerPixel();
    const cy = v.y + v.h / 2, half = (u * c.height) / 2 + 500;
    for (const band of state.bands) showBand(band, band.y1 >= cy - half && band.y0 <= cy + half);
  }
  function showBand(band, on) {  // off screen, a band leaves the DOM: nothing to restyle
    if (band.on === on) return;
    if (on) band.parent.appendChild(band.el); else band.el.remove();
    band.on = on;
  }
  function toUser(clientX, clientY) {
    const p = state.svg.createSVGPoint();
    p.x = clientX; p.y = clientY;
    return p.matrixTransform(state.svg.getScreenCTM().inverse());
  }
  function unitsPerPixel() {
    const r = canvas.getBoundingClientRect();
    return Math.max(state.vb.w / Math.max(r.width, 1), state.vb.h / Math.max(r.height, 1));
  }
  canvas.addEventListener("wheel", (e) => {
    if (!state.svg) return;
    e.preventDefault();
    const k = Math.exp(e.deltaY * 0.0015), p = toUser(e.clientX, e.clientY), v = state.vb;
    state.vb = { x: p.x - (p.x - v.x) * k, y: p.y - (p.y - v.y) * k, w: v.w * k, h: v.h * k };
    applyViewBox();
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, vb: Object.assign({}, state.vb), moved: false };
  });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    canvas.classList.add("dragging");
    const u = unitsPerPixel();
    state.vb = Object.assign({}, drag.vb, { x: drag.vb.x - dx * u, y: drag.vb.y - dy * u });
    applyViewBox();
  });
  window.addEventListener("pointerup", () => {
    canvas.classList.remove("dragging");
    setTimeout(() => { drag = null; }, 0);
  });
  function fit() { state.vb = Object.assign({}, state.full); applyViewBox(); }
  function centreOn(g) {
    if (g.ggBand) showBand(g.ggBand, true); // measured below; applyViewBox settles it again
    const r = g.getBoundingClientRect();
    const a = toUser(r.left, r.top), b = toUser(r.right, r.bottom);
    const cx = (a.x + b.x) / 2, cy = (a.y + b.y) / 2, c = canvas.getBoundingClientRect();
    const aspect = Math.max(c.height, 1) / Math.max(c.width, 1);
    // about one SVG unit per pixel (labels readable), or closer if the user zoomed in
    let w = Math.min(unitsPerPixel() * c.width, Math.max(c.width * 0.8, (b.x - a.x) * 4));
    if (w >= state.full.w && state.full.h <= state.full.w * aspect * 1.2) { fit(); return; }
    state.vb = { x: cx - w / 2, y: cy - (w * aspect) / 2, w: w, h: w * aspect };
    applyViewBox();
  }

  // ------------------------------------------------------------------ selection
  const marked = {};  // class -> the elements carrying it (some may be off the DOM)
  function mark(ids, cls) {
    for (const g of marked[cls] || []) g.classList.remove(cls);
    marked[cls] = [];
    for (const id of ids) {
      const g = state.groups.get(id);
      if (g) { g.classList.add(cls); marked[cls].push(g); }
    }
  }
  function inLayout(id) { return state.groups.has(id); }
  function select(id) {
    const node = byId.get(id);
    if (!node) return false;
    if (!inLayout(id) && D.layouts[VIEWS[state.view].layout].collapsed) {
      state.expanded = !state.expanded; // a member of a collapsed module, or a module box
      update();
      if (!inLayout(id)) { state.expanded = !state.expanded; update(); }
    }
    state.selected = id;
    mark([id], "gg-selected");
    const g = state.groups.get(id);
    if (g) centreOn(g);
    renderDetails();
    return true;
  }
  canvas.addEventListener("click", (e) => {
    if (drag && drag.moved) return;
    const g = e.target.closest && e.target.closest("g.node[data-gg]");
    if (!g) return;
    const node = byId.get(g.dataset.gg);
    if (node.kind === "module" && !state.expanded && node.members) {
      expandModule(node);
    } else {
      select(node.id);
    }
  });
  function expandModule(node) {
    state.expanded = true;
    update();
    const shown = node.members.filter(inLayout);
    state.selected = node.id;
    mark(shown, "gg-match");
    mark([], "gg-selected");
    const first = shown.length ? state.groups.get(shown[0]) : null;
    if (first) centreOn(first);
    renderDetails();
  }

  // ------------------------------------------------------------------ details panel
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  const shapeText = (s) => (s === null || s === undefined ? "" : "(" + s.join(", ") + (s.length === 1 ? ",)" : ")"));
  const num = (v) => (v === null || v === undefined ? "–" : typeof v === "number" && isFinite(v) ? Number(v.toPrecision(3)).toString() : String(v));
  function bytes(n) {
    const u = ["B", "KB", "MB", "GB"]; let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function sparkline(id, name) {
    const n = D.steps.length;
    if (n < 2) return "";
    const vals = D.steps.map((_, s) => magnitude(id, name, s));
    const sc = scaleOf(vals);
    if (!sc) return "";
    const pts = vals.map((v, s) => {
      const y = v !== null && isFinite(v) && v > 0 ? 28 - 26 * (Math.log10(v) - sc[0]) / (sc[1] - sc[0]) : 29;
      return `${(s * 200) / (n - 1)},${y.toFixed(1)}`;
    });
    const cur = pts[state.step].split(",");
    return `<svg class="spark" width="200" height="30" viewBox="-2 0 204 30"><polyline points="${pts.join(" ")}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/><circle cx="${cur[0]}" cy="${cur[1]}" r="3" fill="#d53f8c"/></svg>`;
  }
  function renderDetails() {
    const n = byId.get(state.selected);
    if (!n) { details.innerHTML = '<p class="hint">Click a node for its details.</p>'; return; }
    const rows = [];
    const row = (k, v) => { if (v !== null && v !== undefined && v !== "") rows.push(`<tr><td>${esc(k)}</td><td>${v}</td></tr>`); };
    row("id", esc(n.id));
    row("kind", esc(n.kind));
    if (n.kind === "op") row("op", esc(state.view === "backward" ? n.label + "Backward" : n.label));
    row("settings", n.settings && esc(n.settings));
    row("detail", n.detail && esc(n.detail));
    row("module", n.module !== null && n.module !== undefined ? esc((n.module || "(model)") + (n.module_type ? ": " + n.module_type : "")) : null);
    row("call", n.call);
    row("source", n.source && `<code>${esc(n.source)}</code>`);
    row(n.kind === "op" ? "output" : "shape", esc((n.shapes ? n.shapes.map(shapeText).join(", ") : shapeText(n.shape)) + " " + (n.dtype || "")));
    if (n.in_shapes) row("inputs", n.in_shapes.map((s, i) => esc(shapeText(s) + " " + ((n.in_dtypes || [])[i] || ""))).join("<br>"));
    if (n.jacobians) row("Jacobians", n.jacobians.map((j) => esc(`∂out${n.shapes ? j[0] : ""}/∂in${j[1]}: ${shapeText(j[2])} × ${shapeText(j[3])}`)).join("<br>"));
    row("saved for backward", n.saved_bytes && bytes(n.saved_bytes));
    if (n.kind === "module") row("contents", `${n.n_ops} ops, ${num(n.params)} params` + (n.repeats ? `, × ${n.repeats}` : "") + (n.calls ? `, ${n.calls} calls` : ""));
    const g = magnitude(n.id, "grad_norm");
    row(n.kind === "module" ? "‖grad‖ (output)" : "‖grad‖₂", g !== null ? num(g) : null);
    row("‖∇θ‖", metric(n.id, "param_grad_norm") !== null ? num(metric(n.id, "param_grad_norm")) : null);
    row("update ratio", metric(n.id, "update_ratio") !== null ? num(metric(n.id, "update_ratio")) : null);
    const z = metric(n.id, "zero_frac");
    if (z !== null) row("forward stats", `zeros ${(100 * z).toFixed(1)}%, NaN/inf ${(100 * (metric(n.id, "nonfinite_frac") || 0)).toFixed(1)}%, μ ${num(metric(n.id, "mean"))}, σ ${num(metric(n.id, "std"))}`);
    row("‖grad‖ per step", sparkline(n.id, "grad_norm"));
    row("update per step", sparkline(n.id, "update_ratio"));
    if (n.missing_grad) row("problem", "<b>no gradient reached it</b>");
    row("anomaly", n.anomaly && `<b>${esc(n.anomaly)}</b>`);
    row("failed", n.failed && `<b>${esc(n.failed)}</b>`);
    if (n.members) row("members", `${n.members.length} nodes` + (state.expanded ? "" : " (click the box to expand)"));
    details.innerHTML = `<h3>${esc(n.label)}</h3><table>${rows.join("")}</table>`;
  }

  // ------------------------------------------------------------------ legend, views, search, findings
  function renderLegend(scale, m, any) {
    let html = `<h3>Legend</h3><p>${esc(VIEWS[state.view].title)}</p>`;
    if (!m) {
      const kinds = D.colors.kinds, names = { op: "op", op_backward: "backward op", parameter: "parameter", input: "input", input_grad: "input (requires grad)", module: "collapsed module" };
      for (const k of Object.keys(names)) {
        if (k === (state.view === "backward" ? "op" : "op_backward")) continue;
        html += `<div><span class="swatch" style="background:${kinds[k]}"></span>${names[k]}</div>`;
      }
    } else if (!any) {
      html += '<p class="hint">No values recorded for this view (run a backward; pass before= for update ratios; stats=True or gg.record_stats() for forward stats).</p>';
    } else {
      html += '<div class="heat">' + D.colors.heat.map((c) => `<span style="background:${c}"></span>`).join("") + "</div>";
      html += m === "zero_frac" ? '<div class="scale"><span>0% zeros</span><span>100%</span></div>'
        : scale ? `<div class="scale"><span>${Math.pow(10, scale[0]).toExponential(0)}</span><span>${Math.pow(10, scale[1]).toExponential(0)}</span></div>` : "";
      html += `<div><span class="swatch" style="background:${D.colors.zero}"></span>${m === "zero_frac" ? "dead (all zeros)" : "zero"}</div>`;
      html += `<div><span class="swatch" style="background:${D.colors.bad}"></span>NaN / inf</div>`;
      html += '<div><span class="swatch" style="background:#fff"></span>no value</div>';
    }
    legend.innerHTML = html;
  }
  function update() {
    mount();
    recolour();
    for (const b of $("views").children) b.classList.toggle("on", b.dataset.view === state.view);
    const hasCollapsed = !!D.layouts[VIEWS[state.view].layout].collapsed;
    $("expand").hidden = !hasCollapsed;
    $("expand").textContent = state.expanded ? "collapse modules" : "expand modules";
    if (state.selected) mark([state.selected], "gg-selected");
    if (state.matches.length) mark(state.matches, "gg-match");
  }
  function setView(name) {
    if (!VIEWS[name]) return false;
    state.view = name;
    update();
    renderDetails();
    return true;
  }
  for (const name of D.views) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.view = name; b.textContent = name; b.title = VIEWS[name].title;
    b.addEventListener("click", () => setView(name));
    $("views").appendChild(b);
  }
  $("expand").addEventListener("click", () => { state.expanded = !state.expanded; update(); fit(); });
  $("fit").addEventListener("click", fit);

  function search(q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    return D.nodes.filter((n) => n.id.toLowerCase().includes(q) || String(n.label).toLowerCase().includes(q)
      || (n.module || "").toLowerCase().includes(q)).map((n) => n.id);
  }
  function showResults(ids) {
    const box = $("results");
    state.matches = ids;
    mark(ids, "gg-match");
    box.hidden = !$("search").value.trim();
    box.innerHTML = `<h3>${ids.length} match${ids.length === 1 ? "" : "es"}</h3><ul>` + ids.slice(0, 50).map((id) =>
      `<li data-id="${esc(id)}">${esc(byId.get(id).label)} <span class="hint">${esc(id)}</span></li>`).join("") + "</ul>";
  }
  $("results").addEventListener("click", (e) => { const li = e.target.closest("li"); if (li) select(li.dataset.id); });
  let timer = null;
  $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => showResults(search($("search").value)), 120); });
  $("search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const ids = search(e.target.value);
    showResults(ids);
    if (ids.length) select(ids[0]);
  });

  // {"zero_frac": 1, "mean": 0} reads as "zero frac 1 · mean 0"
  function evidenceText(ev) {
    if (typeof ev === "string") return ev;
    const show = (v) => (typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : JSON.stringify(v));
    return Object.entries(ev).map(([k, v]) => `${k.replace(/_/g, " ")} ${show(v)}`).join(" · ");
  }
  function renderFindings() {
    const box = $("findings");
    if (!D.findings.length) { box.innerHTML = '<h3>Findings</h3><p class="hint">No findings.</p>'; return; }
    box.innerHTML = `<h3>Findings (${D.findings.length})</h3><ul>` + D.findings.map((f, i) =>
      `<li class="${esc(f.severity)}" data-i="${i}"><b>${esc(f.severity)}</b>: ${esc(f.title)}` +
      (f.evidence ? `<div class="evidence">${esc(evidenceText(f.evidence))}</div>` : "") +
      (f.advice ? `<div class="advice">${esc(f.advice)}</div>` : "") + "</li>").join("") + "</ul>";
  }
  function showFinding(i) {
    const f = D.findings[i];
    const ids = (f.nodes || []).filter((id) => byId.has(id));
    if (!ids.length) return false;
    select(ids[0]);
    state.matches = ids;
    mark(ids, "gg-match");
    return true;
  }
  $("findings").addEventListener("click", (e) => { const li = e.target.closest("li"); if (li) showFinding(+li.dataset.i); });

  function setStep(i) {
    state.step = Math.max(0, Math.min(D.steps.length - 1, i | 0));
    $("step").value = state.step;
    $("steplabel").textContent = D.steps[state.step];
    recolour();
    renderDetails();
  }
  if (D.steps.length > 1) {
    $("stepbox").hidden = false;
    $("step").max = D.steps.length - 1;
    $("step").addEventListener("input", (e) => setStep(+e.target.value));
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { state.selected = null; state.matches = []; mark([], "gg-selected"); mark([], "gg-match"); renderDetails(); }
  });

  update();
  setStep(state.step);
  renderFindings();
  window.ggInspector = {
    nodes: D.nodes.map((n) => ({ id: n.id, label: n.label, kind: n.kind, module: n.module, shape: n.shape })),
    findings: D.findings, views: D.views.slice(), steps: D.steps.slice(),
    select, setView, setStep, search: (q) => { $("search").value = q; const ids = search(q); showResults(ids); return ids; },
    showFinding, fit,
    expand: (on) => { state.expanded = on === undefined ? true : !!on; update(); return state.mounted; },
    get view() { return state.view; }, get expanded() { return state.expanded; },
    get selected() { return state.selected; }, get layout() { return state.mounted; },
    shown: () => Array.from(state.groups.keys()),
  };
})();
