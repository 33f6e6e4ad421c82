// Line charts drawn as SVG: time on x, one polyline per series, a legend, and the values under the pointer.

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

function node(tag, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== null) element.textContent = text;
  return element;
}

// Round numbers for the y axis: 0 .. a "nice" top above max, in about `count` steps.
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let value = 0; value <= max + step * 0.999; value += step) ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

// series: [{name, points: [[timeMs, value|null], ...]}]; options: {from, to, unit, format, height, empty}
export function lineChart(series, options) {
  const width = 900;
  const height = options.height || 240;
  const margin = { left: 72, right: 24, top: 26, bottom: 28 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const format = options.format || ((value) => String(value));
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  svg.appendChild(node("title", {}, options.title || "chart"));
  let top = 0;
  for (const line of series) for (const [, value] of line.points) if (value !== null && value > top) top = value;
  const ticks = niceTicks(top);
  const yMax = ticks[ticks.length - 1] || 1;
  const span = Math.max(1, options.to - options.from);
  const x = (ms) => margin.left + ((ms - options.from) / span) * plotWidth;
  const y = (value) => margin.top + plotHeight - (value / yMax) * plotHeight;

  for (const tick of ticks) {
    svg.appendChild(node("line", { x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.appendChild(node("text", { x: margin.left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, format(tick)));
  }
  for (let index = 0; index <= 5; index += 1) {
    const ms = options.from + (span * index) / 5;
    svg.appendChild(node("text", { x: x(ms), y: height - 8, class: "axis", "text-anchor": "middle" }, clock(ms)));
  }
  if (options.unit) {
    svg.appendChild(node("text", { x: 4, y: 12, class: "axis unit" }, options.unit));
  }
  series.forEach((line, index) => {
    const color = PALETTE[index % PALETTE.length];
    let path = "";
    let pen = false;
    for (const [ms, value] of line.points) {
      if (value === null || value === undefined) {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${x(ms).toFixed(1)},${y(value).toFixed(1)} `;
      pen = true;
    }
    if (path) {
      svg.appendChild(node("path", { d: path, fill: "none", stroke: color, "stroke-width": 2, class: "series", "data-series": line.name }));
    }
    // A value with no neighbour would be a line of no length: it gets a dot.
    line.points.forEach(([ms, value], at) => {
      const before = at > 0 ? line.points[at - 1][1] : null;
      const after = at + 1 < line.points.length ? line.points[at + 1][1] : null;
      if (value !== null && value !== undefined && (before === null || before === undefined) && (after === null || after === undefined)) {
        svg.appendChild(node("circle", { cx: x(ms).toFixed(1), cy: y(value).toFixed(1), r: 3.5, fill: color, class: "point" }));
      }
    });
  });
  const total = series.reduce((sum, line) => sum + line.points.filter(([, value]) => value !== null && value > 0).length, 0);
  if (!total) {
    svg.appendChild(node("text", { x: margin.left + plotWidth / 2, y: margin.top + plotHeight / 2, class: "empty", "text-anchor": "middle" },
      options.empty || "nothing in this time range"));
  }

  const pointer = node("line", { y1: margin.top, y2: margin.top + plotHeight, class: "pointer", visibility: "hidden" });
  const readout = node("text", { x: width - margin.right, y: 12, class: "readout", "text-anchor": "end" });
  svg.append(pointer, readout);
  svg.addEventListener("mousemove", (event) => {
    const box = svg.getBoundingClientRect();
    const at = ((event.clientX - box.left) / box.width) * width;
    if (at < margin.left || at > width - margin.right) return;
    const ms = options.from + ((at - margin.left) / plotWidth) * span;
    pointer.setAttribute("x1", at);
    pointer.setAttribute("x2", at);
    pointer.setAttribute("visibility", "visible");
    const parts = series.map((line) => {
      let best = null;
      for (const point of line.points) if (best === null || Math.abs(point[0] - ms) < Math.abs(best[0] - ms)) best = point;
      return `${line.name} ${best && best[1] !== null ? format(best[1]) : "-"}`;
    });
    readout.textContent = `${clock(ms)}  ${parts.join("  ")}`;
  });
  svg.addEventListener("mouseleave", () => {
    pointer.setAttribute("visibility", "hidden");
    readout.textContent = "";
  });

  const figure = document.createElement("figure");
  figure.className = "chart-figure";
  figure.appendChild(svg);
  const legend = document.createElement("figcaption");
  legend.className = "legend";
  series.forEach((line, index) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = PALETTE[index % PALETTE.length];
    item.append(swatch, document.createTextNode(line.label || line.name));
    legend.appendChild(item);
  });
  figure.appendChild(legend);
  return figure;
}
