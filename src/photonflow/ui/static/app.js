// photonflow UI: small progressive enhancements; every page works without this file except the live parts.
"use strict";

function csrf() { return document.querySelector('meta[name="csrf-token"]').content; }
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function rate(v) { return v === null || v === undefined ? "–" : v >= 100 ? Math.round(v).toString() : v.toFixed(1); }

// Files: "select all series"
function initSelectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll('#listing input[name="series"]').forEach(b => { b.checked = all.checked; });
  });
}

// Series: frame slider and contrast; live frame count while spooling
function initViewer() {
  const img = document.getElementById("frame");
  if (img) {
    const slider = document.getElementById("frame-slider");
    const lo = document.getElementById("lo"), hi = document.getElementById("hi");
    const out = document.getElementById("frame-index");
    let pending = null;
    const update = () => {
      out.textContent = slider.value;
      clearTimeout(pending);  // one request per pause of the slider, not one per pixel moved
      pending = setTimeout(() => {
        img.src = `/frame/${img.dataset.path}?i=${slider.value}&lo=${lo.value}&hi=${hi.value}`;
      }, 60);
    };
    [slider, lo, hi].forEach(s => s.addEventListener("input", update));
  }
  const count = document.getElementById("frame-count");
  if (count && count.dataset.complete === "false") {
    const poll = async () => {
      try {
        const r = await fetch(`/series-count/${count.dataset.path}`, {headers: {accept: "application/json"}});
        if (r.ok) {
          const s = await r.json();
          count.textContent = s.frames;
          const slider = document.getElementById("frame-slider");
          if (slider) slider.max = Math.max(s.frames - 1, 0);
          if (s.complete) {
            const badge = document.getElementById("series-badge");
            badge.textContent = "complete"; badge.className = "badge ok";
            return;
          }
        }
      } catch (e) { /* the server restarts: try again later */ }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
  }
}

// Rules: render snapshots pushed by server-sent events
function renderRules(snapshot) {
  const body = document.getElementById("rules-body");
  const error = document.getElementById("rules-error");
  error.hidden = snapshot.available;
  error.textContent = snapshot.error || "";
  const canWrite = document.getElementById("can-write").innerHTML.trim() === "yes";
  body.replaceChildren();
  if (!snapshot.rules.length) {
    const tr = el("tr"); tr.appendChild(el("td", {colspan: 9, class: "muted"}, "no rules yet")); body.appendChild(tr);
  }
  for (const r of snapshot.rules) {
    const tr = el("tr", {"data-rule": r.id, "data-state": r.state});
    tr.appendChild(el("td", {}, r.id.slice(0, 12)));
    tr.appendChild(el("td", {}, r.kind));
    tr.appendChild(el("td", {}, r.description));
    tr.appendChild(el("td", {class: "state"}, r.state + (r.error ? `: ${r.error}` : "")));
    const cell = el("td");
    const pct = r.percent === null ? null : r.percent;
    const bar = el("div", {class: "progress " + (r.state === "complete" ? "complete" : r.state), role: "progressbar",
                           "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct === null ? "" : pct.toFixed(1)});
    const fill = el("div"); fill.style.width = (pct === null ? 0 : pct) + "%"; bar.appendChild(fill);
    cell.appendChild(bar);
    cell.appendChild(el("span", {class: "pct"}, pct === null ? ` ${r.done} done (total unknown: series spooling)` : ` ${pct.toFixed(0)} %`));
    tr.appendChild(cell);
    tr.appendChild(el("td", {}, rate(r.frames_per_s)));
    tr.appendChild(el("td", {}, rate(r.localizations_per_s)));
    const fails = el("td");
    if (r.failures || r.failed) fails.appendChild(el("a", {href: `/rules/${r.id}/log`}, `${r.failed} failed · log`));
    else fails.textContent = "0";
    tr.appendChild(fails);
    const act = el("td");
    for (const out of r.outputs) {
      if (/\.(h5r|npy|csv|hdf5)$/.test(out)) act.appendChild(el("a", {href: `/results/${out}`, class: "results-link"}, "results"));
    }
    if (!r.finished && canWrite) {
      const form = document.getElementById("cancel-template").cloneNode(true);
      form.hidden = false; form.id = ""; form.action = `/rules/${r.id}/cancel`; form.className = "inline";
      form.appendChild(el("button", {type: "submit", class: "cancel"}, "Cancel"));
      act.appendChild(form);
    }
    tr.appendChild(act);
    body.appendChild(tr);
  }
}

function initRules() {
  const initial = document.getElementById("rules-initial");
  if (!initial) return;
  renderRules(JSON.parse(initial.textContent));
  const source = new EventSource("/rules/events");
  source.addEventListener("rules", e => renderRules(JSON.parse(e.data)));
}

// Recipe: graph preview and matching inputs
function initRecipe() {
  const text = document.getElementById("recipe-text");
  if (!text) return;
  const graph = document.getElementById("recipe-graph");
  const glob = document.getElementById("recipe-glob");
  const matches = document.getElementById("recipe-matches");
  let timer = null;
  const drawGraph = async () => {
    const r = await fetch("/recipe/svg", {method: "POST", body: text.value, headers: {"X-CSRF-Token": csrf()}});
    if (r.ok) graph.innerHTML = await r.text();
    else graph.textContent = (await r.json()).error;
  };
  const findInputs = async () => {
    if (!glob.value.trim()) { matches.textContent = ""; return; }
    const r = await fetch(`/recipe/inputs?glob=${encodeURIComponent(glob.value)}`);
    const found = await r.json();
    matches.textContent = Array.isArray(found)
      ? `${found.length} file(s) match: ${found.slice(0, 5).join(", ")}${found.length > 5 ? " …" : ""}` : found.error;
  };
  text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(drawGraph, 300); });
  glob.addEventListener("change", findInputs);
  drawGraph(); findInputs();
}

document.addEventListener("DOMContentLoaded", () => { initSelectAll(); initViewer(); initRules(); initRecipe(); });
