// The wallboard's charts, drawn by uPlot (served from /static/vendor/uplot, installed by
// the setup; never a CDN). Each chart keeps its uPlot instance and is rebuilt only when its
// series change (a queue appears) or the language changes; data updates use setData. A
// missing uPlot (setup not run) leaves a muted "not available" in the box, nothing breaks.
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";

const COLOURS = ["#1f6feb", "#8250df", "#bf3989", "#1a7f37", "#b26a00", "#0a7ea4"];

const plotLib = () => (typeof window !== "undefined" && window.uPlot) || null;

/** The box's size for uPlot: its width, and its CSS height less the legend's (the plot is
 * absolutely placed in the box, so it never makes the box grow: no resize loop). */
function size(box, plot) {
  const legend = plot ? plot.root.querySelector(".u-legend") : null;
  const lh = legend && legend.offsetParent !== null ? legend.offsetHeight : 0;
  return { width: Math.max(120, Math.floor(box.clientWidth || 300)),
           height: Math.max(50, Math.floor((box.clientHeight || 160) - lh)) };
}

const hhmm = (s) => {
  const d = new Date(s * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
};

/** Axis styling readable on the board's background (ink colour, light grid). */
function axes(big, yValues) {
  const font = `${big ? 15 : 11}px system-ui, sans-serif`;
  const ax = { stroke: big ? "#9fb0c2" : "#4d5a68", font, grid: { stroke: big ? "#2a3a4b" : "#e6eaef", width: 1 },
               ticks: { show: false } };
  return [{ ...ax, size: big ? 30 : 24 },
    { ...ax, size: big ? 52 : 40, values: yValues, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000] }];
}

export class Chart {
  /** box: the element to draw in; kind: "trend" | "hourly"; opts.big: TV sizes. */
  constructor(box, kind, opts = {}) {
    this.box = box;
    this.kind = kind;
    this.opts = opts;
    this.plot = null;
    this.signature = "";
    this.data = null;
    this.observer = typeof ResizeObserver === "function"
      ? new ResizeObserver(() => this.resize()) : null;
    if (this.observer) this.observer.observe(box);
  }

  /** Show "not available" (muted) instead of a chart, e.g. the reports API is absent. */
  unavailable(textKey = "wb_not_available") {
    this.destroy();
    this.signature = `unavailable:${textKey}`;
    fill(this.box, h("p", { class: "muted chart-empty" }, t(textKey)));
  }

  destroy() {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.signature = "";
  }

  resize() {
    if (this.plot) this.plot.setSize(size(this.box, this.plot));
  }

  /**
   * Trend: x = Unix seconds, series = {label → values}; percent: y is 0..100 %.
   * Hourly: x = hours 0..23, series = {label → 24 values}, the first drawn as bars.
   */
  draw(x, series, { percent = false, names = {} } = {}) {
    const uPlot = plotLib();
    if (!uPlot) { this.unavailable(); return; }
    const labels = Object.keys(series);
    const signature = `${this.kind}|${percent}|${labels.join("\u0001")}|${this.opts.big}`;
    const data = [x, ...labels.map((k) => series[k])];
    this.xmax = x.length ? x[x.length - 1] : 0;
    // What is drawn, for a glance in the inspector (and the browser test): points, last values.
    this.box.dataset.points = String(x.length);
    this.box.dataset.last = labels.map((k) => series[k][series[k].length - 1] ?? "").join(",");
    if (this.plot && signature === this.signature) {
      this.plot.setData(data);
      this.relabel(labels, names);
      return;
    }
    this.destroy();
    this.box.replaceChildren();
    const big = Boolean(this.opts.big);
    const yValues = percent ? (u, vals) => vals.map((v) => `${Math.round(v)}%`)
      : (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : ""));
    const seriesOpts = labels.map((label, i) => {
      const stroke = COLOURS[i % COLOURS.length];
      if (this.kind === "hourly" && i === 0) {
        return { label, stroke, fill: `${stroke}55`, width: 1,
                 paths: uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined,
                 points: { show: false } };
      }
      return { label, stroke: this.kind === "hourly" ? "#6a7785" : stroke, width: big ? 3 : 2,
               dash: this.kind === "hourly" ? [6, 4] : undefined,
               // uPlot's default shows the points only while they are far apart (a few)
               points: this.kind === "hourly" ? { show: false } : { size: big ? 7 : 5, fill: stroke },
               spanGaps: true };
    });
    const xAxis = this.kind === "hourly"
      ? { values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? `${v}` : "")), incrs: [1, 2, 3, 6] }
      : { values: (u, vals) => vals.map(hhmm), space: big ? 70 : 50 };
    const [ax0, ax1] = axes(big, yValues);
    const opts = {
      ...size(this.box),
      legend: { show: labels.length > 1 || !big, live: false },
      cursor: { show: !big, drag: { x: false, y: false } },
      scales: {
        // The trend always spans the last hour up to its latest point (one point is a
        // dot on the right, not a degenerate axis).
        x: this.kind === "hourly" ? { time: false, range: [-0.5, 23.5] }
          : { time: true, range: () => [this.xmax - 3600, this.xmax + 30] },
        y: percent ? { range: [0, 100] } : { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.2))] },
      },
      axes: [{ ...ax0, ...xAxis }, ax1],
      series: [{}, ...seriesOpts],
    };
    this.plot = new uPlot(opts, data, this.box);
    this.signature = signature;
    this.relabel(labels, names);
    this.resize(); // now that the legend's height is known
  }

  /** Legend names in the UI language without rebuilding the chart (a series' key stays). */
  relabel(keys, names) {
    const cells = this.plot ? this.plot.root.querySelectorAll(".u-legend .u-series .u-label") : [];
    for (const cell of cells) {
      if (!cell.dataset.key) cell.dataset.key = cell.textContent; // the series' key, as drawn
      if (keys.includes(cell.dataset.key)) cell.textContent = names[cell.dataset.key] || cell.dataset.key;
    }
  }
}
