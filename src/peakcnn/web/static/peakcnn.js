// Sequence page: SHAP logo, mutagenesis heatmap and what-if table, drawn from the page's JSON.
// Everything is local: no library, no network fetch but the page's own what-if endpoint.
"use strict";
(function () {
  const view = JSON.parse(document.getElementById("view").textContent);
  const request = JSON.parse(document.getElementById("request").textContent);
  const COLOURS = { A: "#109648", C: "#255c99", G: "#f7b32b", T: "#d62839" };
  const LETTERS = "ACGT";
  const OBSERVED = "#bdbdbd"; // heatmap cell of the base in the window (no change there)
  const SVG = "http://www.w3.org/2000/svg";
  const length = view.window.length;

  function node(name, attributes, parent) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (parent) parent.appendChild(element);
    return element;
  }

  function position(index) { return view.first_position + index; }

  function drawLogo(first, span) {
    const box = document.getElementById("logo");
    box.innerHTML = "";
    if (!view.shap) return;
    const column = Math.max(8, Math.min(24, Math.floor(1100 / span)));
    const half = 80, top = 10, width = span * column + 60, height = 2 * half + top + 30;
    const svg = node("svg", { width: width, height: height, id: "logo-svg" }, box);
    const zero = top + half;
    const biggest = Math.max(1e-12, ...view.shap.map(Math.abs));
    node("line", { x1: 50, x2: width, y1: zero, y2: zero, stroke: "#999" }, svg);
    node("text", { x: 0, y: top + 10, "font-size": 10 }, svg).textContent = "+" + biggest.toPrecision(2);
    node("text", { x: 0, y: zero + half, "font-size": 10 }, svg).textContent = "-" + biggest.toPrecision(2);
    for (let i = first; i < first + span; i++) {
      const base = view.window[i];
      const x = 50 + (i - first) * column;
      if (i % 10 === 0) {
        node("text", { x: x, y: height - 4, "font-size": 9, fill: "#555" }, svg).textContent = position(i);
      }
      if (!(base in COLOURS)) continue;
      const value = view.shap[i];
      const tall = Math.max(0.5, (Math.abs(value) / biggest) * half);
      const sy = (value >= 0 ? 1 : -1) * tall / 72;
      const letter = node("text", {
        class: "logo-base", "data-index": i, "data-base": base,
        transform: `translate(${x},${zero}) scale(${column / 60},${sy})`,
        "font-size": 100, "font-family": "monospace", "font-weight": "bold", fill: COLOURS[base],
      }, svg);
      letter.textContent = base;
      const title = node("title", {}, letter);
      title.textContent = `${base} at ${position(i)}: SHAP ${value.toPrecision(3)}`;
      letter.addEventListener("click", () => whatIf(i));
    }
  }

  function colour(value, biggest) {
    const t = Math.min(1, Math.abs(value) / biggest);
    const other = Math.round(255 * (1 - t));
    return value >= 0 ? `rgb(255,${other},${other})` : `rgb(${other},${other},255)`;
  }

  // The colour key of the heatmap: its extremes in logit units, and the observed base.
  function drawScale(svg, x, biggest) {
    const steps = 20, step = 6;
    for (let k = 0; k <= steps; k++) {
      const value = biggest * (2 * k / steps - 1);
      node("rect", { x: x + k * step, y: 4, width: step, height: 12, fill: colour(value, biggest) }, svg);
    }
    const label = (dx, text, anchor) => {
      node("text", { x: x + dx, y: 30, "font-size": 10, "text-anchor": anchor, fill: "#555" }, svg)
        .textContent = text;
    };
    label(0, "−" + biggest.toPrecision(2), "start");
    label((steps + 1) * step, "+" + biggest.toPrecision(2), "end");
    label((steps + 1) * step / 2, "logit change", "middle");
    node("rect", { x: x, y: 44, width: 12, height: 12, fill: OBSERVED }, svg);
    node("text", { x: x + 18, y: 54, "font-size": 10, fill: "#555" }, svg).textContent = "observed base";
  }

  function drawHeatmap() {
    const box = document.getElementById("ism");
    const values = view.ism.values, start = view.ism.start, span = values[0].length;
    const column = Math.max(4, Math.min(16, Math.floor(900 / span))), row = 16;
    const width = 20 + span * column + 170, height = 4 * row + 18;
    const svg = node("svg", { width: width, height: height, id: "ism-svg" }, box);
    const biggest = Math.max(1e-12, ...values.flat().map(Math.abs));
    drawScale(svg, 40 + span * column, biggest);
    LETTERS.split("").forEach((letter, b) => {
      node("text", { x: 2, y: b * row + 12, "font-size": 11 }, svg).textContent = letter;
      for (let j = 0; j < span; j++) {
        const i = start + j;
        const observed = view.window[i] === letter;
        const cell = node("rect", {
          class: "ism-cell", "data-index": i, x: 20 + j * column, y: b * row,
          width: column, height: row, fill: observed ? OBSERVED : colour(values[b][j], biggest),
        }, svg);
        node("title", {}, cell).textContent =
          `${view.window[i]}${position(i)}${letter}: logit change ${values[b][j].toPrecision(3)}`;
        cell.addEventListener("click", () => whatIf(i));
      }
    });
    for (let j = 0; j < span; j += 20) {
      node("text", { x: 20 + j * column, y: height - 3, "font-size": 10, fill: "#555" }, svg)
        .textContent = position(start + j);
    }
  }

  function whatIf(index) {
    for (const element of document.querySelectorAll(".selected")) element.classList.remove("selected");
    for (const element of document.querySelectorAll(`[data-index="${index}"]`)) {
      element.classList.add("selected");
    }
    const box = document.getElementById("what-if");
    box.innerHTML = `<p class="note">Scoring the substitutions at ${position(index)}…</p>`;
    fetch(box.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ index: index }, request)),
    }).then((response) => response.json()).then((answer) => {
      if (answer.error) {
        box.innerHTML = "";
        const error = document.createElement("p");
        error.className = "error";
        error.textContent = answer.error;
        box.appendChild(error);
        return;
      }
      const columns = ["pos", "ref", "alt", "task", "ref_probability", "alt_probability",
        "probability_difference", "logit_difference", "log2_odds_ratio"];
      const table = document.createElement("table");
      table.id = "what-if-table";
      table.insertRow().innerHTML = columns.map((c) => `<th>${c}</th>`).join("");
      for (const row of answer.rows) {
        const cells = columns.map((c) => typeof row[c] === "number" && !Number.isInteger(row[c])
          ? row[c].toFixed(4) : String(row[c]));
        const tr = table.insertRow();
        for (const text of cells) tr.insertCell().textContent = text;
      }
      box.innerHTML = "<p class=\"note\">Each allele scored on a window centred on it, both " +
        "strands averaged, as <code>peakcnn variants</code> does.</p>";
      box.appendChild(table);
    }).catch((error) => { box.textContent = "what-if failed: " + error; });
  }

  const spanSelect = document.getElementById("span");
  const offset = document.getElementById("offset");
  function redraw(centre) {
    const span = Number(spanSelect.value) || length;
    const shown = Math.min(span, length);
    offset.max = length - shown;
    if (centre) offset.value = Math.floor((length - shown) / 2);
    const first = Number(offset.value);
    document.getElementById("span-label").textContent =
      `${position(first)}–${position(first + shown - 1)}`;
    drawLogo(first, shown);
  }
  spanSelect.addEventListener("change", () => redraw(true));
  offset.addEventListener("input", () => redraw(false));
  redraw(true);
  drawHeatmap();
})();
