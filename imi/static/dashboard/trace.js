// The trace view: `trace(entityType:, entityId:)` drawn as an SVG graph, one column per kind
// (project, ticket, work item, pull request, deployment), edges as curves with arrows.

import { h, mount, s } from "./dom.js";

export const TRACE_QUERY = `query DashboardTrace($type: TraceEntityType!, $id: String!) {
  trace(entityType: $type, entityId: $id) {
    root { id }
    direction
    nodes {
      id type
      entity {
        __typename
        ... on Project { name }
        ... on Ticket { planeTicketId title ticketState: state }
        ... on WorkItem { branchName ownerId workStatus: status active }
        ... on PullRequest { number prState: state }
        ... on Deployment { deployId environment deployStatus: status }
      }
    }
    edges { from to kind linkKind }
  }
}`;

const COLUMNS = ["PROJECT", "TICKET", "WORK_ITEM", "PULL_REQUEST", "DEPLOYMENT"];
const TITLES = { PROJECT: "Project", TICKET: "Ticket", WORK_ITEM: "Branch", PULL_REQUEST: "Pull request", DEPLOYMENT: "Deploy" };
const NODE_W = 168;
const NODE_H = 44;
const COL_GAP = 64;
const ROW_GAP = 16;
const TOP = 30;

function label(node) {
  const e = node.entity;
  switch (e.__typename) {
    case "Project": return [e.name, "project"];
    case "Ticket": return [e.planeTicketId, e.title || e.ticketState || ""];
    case "WorkItem": return [e.branchName, `${e.ownerId || "no owner"} · ${e.active ? e.workStatus : "done"}`];
    case "PullRequest": return [`#${e.number}`, e.prState.toLowerCase()];
    case "Deployment": return [e.deployId, `${e.environment} · ${e.deployStatus}`];
    default: return [node.id, ""];
  }
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Draw `trace` (the query's answer) into `node`; null: "nothing found". */
export function renderTrace(node, trace) {
  if (!trace) {
    mount(node, h("p", { class: "empty" }, "Nothing found for that id."));
    return;
  }
  const columns = COLUMNS.map((type) => trace.nodes.filter((n) => n.type === type)).filter((c) => c.length);
  const place = new Map();
  const rows = Math.max(...columns.map((c) => c.length));
  const width = columns.length * NODE_W + (columns.length - 1) * COL_GAP + 20;
  const height = TOP + rows * (NODE_H + ROW_GAP) + 10;
  const parts = [];
  columns.forEach((members, col) => {
    const x = 10 + col * (NODE_W + COL_GAP);
    const offset = ((rows - members.length) * (NODE_H + ROW_GAP)) / 2;
    parts.push(s("text", { x: x + NODE_W / 2, y: 16, class: "col-title", "text-anchor": "middle" }, TITLES[members[0].type]));
    members.forEach((member, row) => place.set(member.id, { x, y: TOP + offset + row * (NODE_H + ROW_GAP) }));
  });
  const edges = trace.edges
    .filter((e) => place.has(e.from) && place.has(e.to))
    .map((e) => {
      const a = place.get(e.from);
      const b = place.get(e.to);
      const [x1, y1] = a.x < b.x ? [a.x + NODE_W, a.y + NODE_H / 2] : [a.x, a.y + NODE_H / 2];
      const [x2, y2] = a.x < b.x ? [b.x, b.y + NODE_H / 2] : [b.x + NODE_W, b.y + NODE_H / 2];
      const mid = (x1 + x2) / 2;
      return s(
        "path",
        { class: `edge edge-${e.kind.toLowerCase()}`, d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to },
        s("title", {}, e.linkKind ? `${e.kind} (${e.linkKind})` : e.kind),
      );
    });
  const nodes = trace.nodes.filter((n) => place.has(n.id)).map((n) => {
    const { x, y } = place.get(n.id);
    const [title, sub] = label(n);
    const root = n.id === trace.root.id ? " root" : "";
    return s(
      "g",
      { class: `node node-${n.type.toLowerCase()}${root}`, "data-id": n.id, transform: `translate(${x},${y})` },
      s("title", {}, `${title} ${sub}`),
      s("rect", { width: NODE_W, height: NODE_H, rx: 8, class: "bg" }), // hides edges behind it
      s("rect", { width: NODE_W, height: NODE_H, rx: 8, class: "box" }),
      s("text", { x: 10, y: 18, class: "node-title" }, clip(title, 22)),
      s("text", { x: 10, y: 35, class: "node-sub" }, clip(sub, 26)),
    );
  });
  const svg = s(
    "svg",
    { class: "trace-graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "trace graph" },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))),
    parts,
    edges,
    nodes,
  );
  mount(
    node,
    h("p", { class: "trace-summary" }, `${trace.nodes.length} nodes, ${trace.edges.length} edges, direction ${trace.direction.toLowerCase()}`),
    h("div", { class: "trace-scroll" }, svg),
  );
}
