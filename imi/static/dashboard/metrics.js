// Delivery metrics (DORA) from `deliveryMetrics`: four figures and two small SVG charts
// (deploys and failures per bucket; median lead time per bucket). A server without the field
// shows "not available" instead.

import { duration, h, mount, s } from "./dom.js";

const PERCENTILES = "count p50Seconds p90Seconds";
export const METRICS_QUERY = `query DashboardMetrics($from: DateTime!, $to: DateTime!, $projectId: ID) {
  deliveryMetrics(from: $from, to: $to, projectId: $projectId, bucket: DAY) {
    leadTime { ${PERCENTILES} }
    ticketLeadTime { ${PERCENTILES} }
    timeToRestore { ${PERCENTILES} }
    deploymentFrequency { environment deploys perDay }
    changeFailureRate { deploys failures rate }
    series { bucketStart deploys failures leadTimeP50Seconds }
  }
}`;

export function metricsWindow(days) {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400 * 1000);
  return { from: from.toISOString(), to: to.toISOString() };
}

export function renderUnavailable(node, why) {
  mount(node, h("p", { class: "empty unavailable", "data-state": "unavailable" }, `Delivery metrics not available on this server${why ? ` (${why})` : ""}.`));
}

function tile(name, value, detail) {
  return h("div", { class: "tile" }, h("div", { class: "tile-name" }, name), h("div", { class: "tile-value" }, value), h("div", { class: "tile-detail" }, detail));
}

function percentiles(p) {
  return p.count ? `p90 ${duration(p.p90Seconds)} · ${p.count} changes` : "no data";
}

export function renderMetrics(node, m) {
  const production = m.deploymentFrequency.find((d) => d.environment === "production");
  const frequency = m.deploymentFrequency.map((d) => `${d.environment}: ${d.deploys}`).join(", ") || "no deploys";
  const cfr = m.changeFailureRate;
  mount(
    node,
    h(
      "div",
      { class: "tiles", "data-state": "available" },
      tile("Lead time (p50)", m.leadTime.count ? duration(m.leadTime.p50Seconds) : "–", percentiles(m.leadTime)),
      tile("Ticket lead time (p50)", m.ticketLeadTime.count ? duration(m.ticketLeadTime.p50Seconds) : "–", percentiles(m.ticketLeadTime)),
      tile("Deploys / day (production)", production ? production.perDay.toFixed(2) : "0", frequency),
      tile("Change failure rate", cfr.deploys ? `${Math.round(cfr.rate * 100)}%` : "–", `${cfr.failures} of ${cfr.deploys} deploys`),
      tile("Time to restore (p50)", m.timeToRestore.count ? duration(m.timeToRestore.p50Seconds) : "–", percentiles(m.timeToRestore)),
    ),
    h(
      "div",
      { class: "charts" },
      h("figure", {}, barChart(m.series), h("figcaption", {}, "Deploys (bars) and failures (dark) per day")),
      h("figure", {}, lineChart(m.series), h("figcaption", {}, "Median lead time per day")),
    ),
  );
}

const W = 420;
const H = 150;
const PAD = 28;

function frame(label) {
  return [
    s("line", { x1: PAD, y1: H - PAD, x2: W - 6, y2: H - PAD, class: "axis" }),
    s("line", { x1: PAD, y1: 8, x2: PAD, y2: H - PAD, class: "axis" }),
    s("text", { x: PAD - 4, y: 14, class: "axis-label", "text-anchor": "end" }, label),
  ];
}

function day(point) {
  return point.bucketStart.slice(5, 10);
}

function barChart(series) {
  const max = Math.max(1, ...series.map((p) => p.deploys));
  const step = (W - PAD - 10) / Math.max(1, series.length);
  const bars = series.map((p, i) => {
    const x = PAD + 4 + i * step;
    const bw = Math.max(2, step - 3);
    const dh = ((H - PAD - 12) * p.deploys) / max;
    const fh = ((H - PAD - 12) * p.failures) / max;
    return s(
      "g",
      { class: "bar" },
      s("title", {}, `${day(p)}: ${p.deploys} deploys, ${p.failures} failures`),
      s("rect", { x, y: H - PAD - dh, width: bw, height: dh, class: "deploys" }),
      s("rect", { x, y: H - PAD - fh, width: bw, height: fh, class: "failures" }),
    );
  });
  return s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "deploys per day" }, frame(String(max)), bars, ticks(series, step));
}

function lineChart(series) {
  const known = series.map((p, i) => [i, p.leadTimeP50Seconds]).filter(([, v]) => v !== null && v !== undefined);
  const max = Math.max(1, ...known.map(([, v]) => v));
  const step = (W - PAD - 10) / Math.max(1, series.length);
  const point = ([i, v]) => [PAD + 4 + i * step + step / 2, H - PAD - ((H - PAD - 12) * v) / max];
  const path = known.map((k, n) => `${n ? "L" : "M"}${point(k).join(",")}`).join(" ");
  return s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "lead time per day" },
    frame(duration(max)),
    path ? s("path", { d: path, class: "line" }) : null,
    known.map((k) => {
      const [x, y] = point(k);
      return s("circle", { cx: x, cy: y, r: 3, class: "dot" }, s("title", {}, `${day(series[k[0]])}: ${duration(k[1])}`));
    }),
    ticks(series, step),
  );
}

function ticks(series, step) {
  const every = Math.max(1, Math.ceil(series.length / 6));
  return series
    .map((p, i) => (i % every ? null : s("text", { x: PAD + 4 + i * step, y: H - PAD + 14, class: "tick" }, day(p))))
    .filter(Boolean);
}
