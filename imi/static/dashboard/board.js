// The in-flight board: active work items grouped by project, agent or status, with how long
// each has been idle and, when the server has `staleWork`, why it counts as stale.

import { duration, h, mount } from "./dom.js";

export const WORK_FIELDS = `
  id uuid branchName workType status ownerId active
  lastActivityAt aheadOfTrunk behindTrunk hasUncommittedChanges uncommittedFilesCount
  project { id name }
  tickets { ticket { planeTicketId } }
  pullRequests { number state url }
`;

export const BOARD_QUERY = `query DashboardBoard {
  inFlightWork(first: 200) { totalCount nodes { ${WORK_FIELDS} } }
}`;

export const STALE_QUERY = `query DashboardStale {
  staleWork(first: 200) { nodes { workItem { id } reasons idleSeconds } }
}`;

export const LIVE_SUBSCRIPTION = `subscription DashboardLive {
  workItemUpdated { ${WORK_FIELDS} }
}`;

const IDLE_SECONDS = 3600; // over an hour without activity: "idle"
const STALE_SECONDS = 24 * 3600; // over a day: "stale" (when the server has no staleWork)

export class Board {
  constructor(node, { onTrace }) {
    this.node = node;
    this.onTrace = onTrace;
    this.items = new Map();
    this.stale = null; // Map id -> {reasons, idleSeconds} once staleWork answered
    this.filters = { group: "project", project: "", agent: "", status: "", text: "", staleOnly: false };
  }

  load(nodes) {
    this.items = new Map(nodes.map((item) => [item.id, item]));
  }

  /** A live result: the fresh item replaces the old; finished work leaves the board. */
  upsert(item) {
    if (item.active) this.items.set(item.id, item);
    else this.items.delete(item.id);
  }

  idleSeconds(item) {
    const known = this.stale?.get(item.id);
    if (known && known.idleSeconds !== null && known.idleSeconds !== undefined) {
      return known.idleSeconds;
    }
    if (!item.lastActivityAt) return null;
    return (Date.now() - Date.parse(item.lastActivityAt)) / 1000;
  }

  staleness(item) {
    if (this.stale) {
      const known = this.stale.get(item.id);
      if (known) return { level: "stale", reasons: known.reasons };
    }
    const idle = this.idleSeconds(item);
    if (idle === null) return { level: "fresh", reasons: [] };
    if (!this.stale && idle >= STALE_SECONDS) return { level: "stale", reasons: ["IDLE"] };
    if (idle >= IDLE_SECONDS) return { level: "idle", reasons: [] };
    return { level: "fresh", reasons: [] };
  }

  visible() {
    const f = this.filters;
    const text = f.text.trim().toLowerCase();
    return [...this.items.values()].filter((item) => {
      if (f.project && item.project.id !== f.project) return false;
      if (f.agent && (item.ownerId || "") !== f.agent) return false;
      if (f.status && item.status !== f.status) return false;
      if (f.staleOnly && this.staleness(item).level !== "stale") return false;
      if (text) {
        const tickets = item.tickets.map((t) => t.ticket.planeTicketId).join(" ");
        const hay = `${item.branchName} ${item.ownerId || ""} ${item.project.name} ${tickets}`;
        if (!hay.toLowerCase().includes(text)) return false;
      }
      return true;
    });
  }

  groupKey(item) {
    const group = this.filters.group;
    if (group === "agent") return item.ownerId || "(no owner)";
    if (group === "status") return item.status;
    return item.project.name;
  }

  options() {
    const projects = new Map();
    const agents = new Set();
    for (const item of this.items.values()) {
      projects.set(item.project.id, item.project.name);
      if (item.ownerId) agents.add(item.ownerId);
    }
    return { projects, agents: [...agents].sort() };
  }

  render() {
    const items = this.visible();
    const groups = new Map();
    for (const item of items) {
      const key = this.groupKey(item);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    }
    const sorted = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
    if (!sorted.length) {
      const empty = this.items.size ? "No work matches the filters." : "No work in flight.";
      mount(this.node, h("p", { class: "empty" }, empty));
      return;
    }
    mount(
      this.node,
      sorted.map(([name, members]) =>
        h(
          "section",
          { class: "group", "data-group": name },
          h("h3", {}, name, " ", h("span", { class: "count" }, String(members.length))),
          h("ul", { class: "cards" }, members.sort(byIdle(this)).map((item) => this.card(item))),
        ),
      ),
    );
  }

  card(item) {
    const { level, reasons } = this.staleness(item);
    const idle = this.idleSeconds(item);
    const git = [];
    if (item.hasUncommittedChanges) git.push(`${item.uncommittedFilesCount} uncommitted`);
    if (item.aheadOfTrunk) git.push(`${item.aheadOfTrunk} ahead`);
    if (item.behindTrunk) git.push(`${item.behindTrunk} behind`);
    return h(
      "li",
      { class: `card ${level}`, "data-id": item.id, "data-branch": item.branchName },
      h(
        "div",
        { class: "card-head" },
        h(
          "button",
          { type: "button", class: "link branch", title: "Trace this branch", onclick: () => this.onTrace("BRANCH", item.uuid) },
          item.branchName,
        ),
        h("span", { class: `status status-${item.status.toLowerCase()}` }, item.status),
      ),
      h(
        "div",
        { class: "meta" },
        h("span", {}, item.ownerId || "no owner"),
        h("span", {}, item.project.name),
        h("span", { class: "idle", title: "time since the last activity" }, `idle ${duration(idle)}`),
        level === "stale" ? h("span", { class: "badge stale" }, reasons.length ? reasons.join(", ") : "STALE") : null,
      ),
      git.length ? h("div", { class: "git" }, git.join(" · ")) : null,
      h(
        "div",
        { class: "links" },
        item.tickets.map((link) =>
          h(
            "button",
            { type: "button", class: "chip", title: "Trace this ticket", onclick: () => this.onTrace("TICKET", link.ticket.planeTicketId) },
            link.ticket.planeTicketId,
          ),
        ),
        item.pullRequests.map((pr) =>
          h("span", { class: `chip pr pr-${pr.state.toLowerCase()}` }, `#${pr.number} ${pr.state.toLowerCase()}`),
        ),
      ),
    );
  }
}

function byIdle(board) {
  return (a, b) => (board.idleSeconds(b) ?? 0) - (board.idleSeconds(a) ?? 0);
}
