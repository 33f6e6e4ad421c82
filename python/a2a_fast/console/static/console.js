// The console's page: one view at a time chosen by the URL's #, data from /api, changes pushed by /api/events.
// Everything shown is built as DOM nodes from text (never parsed as HTML): records carry whatever agents wrote.

import { lineChart } from "./charts.js";

const STATES = ["PENDING", "NEGOTIATING", "ACCEPTED", "RUNNING", "CANCELING", "COMPLETED", "FAILED", "REJECTED", "CANCELED"];
const SESSION_STATES = ["RUNNING", "COMPLETED", "FAILED", "TIMED_OUT"];
const PAGE = 50;

const app = {
  overview: null,
  clockSkew: 0, // server time minus this browser's time, ms
  view: null, // {name, sections, refresh}
  seen: {}, // section versions the current view was drawn from
  refreshing: false,
  again: false,
  loadedAt: Date.now(),
};
window.__consoleLoadedAt = app.loadedAt; // a page reload would change it: tests use it to see none happened

// --- small helpers -----------------------------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

class ApiError extends Error {}

async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(name, item);
  }
  const asOf = route().params.get("as_of");
  if (asOf) query.set("as_of", asOf);
  let response;
  try {
    response = await fetch(`${path}${query.toString() ? `?${query}` : ""}`, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new ApiError(`the console server did not answer (${error.message}); is 'a2a-fast console' still running?`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the console answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) throw new ApiError(body && body.error ? body.error : `the console answered ${response.status}`);
  return body;
}

function badge(text, kind = text) {
  return h("span", { class: `badge ${kind}` }, text);
}

function money(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(2);
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${(value * 1000).toFixed(1)} ms` : `${value.toFixed(2)} s`;
}

function short(id) {
  return id ? id.slice(0, 12) : "–";
}

function clock(iso) {
  return iso ? iso.replace("T", " ").replace("Z", "") : "–";
}

function ago(iso) {
  if (!iso) return "–";
  const reference = app.overview && app.overview.as_of_ms ? app.overview.as_of_ms : Date.now() + app.clockSkew;
  const delta = (reference - Date.parse(iso)) / 1000;
  if (delta < 0) return "just now";
  if (delta < 120) return `${delta.toFixed(1)} s ago`;
  if (delta < 7200) return `${Math.round(delta / 60)} min ago`;
  return `${(delta / 3600).toFixed(1)} h ago`;
}

function taskLink(id, text = short(id)) {
  return id ? h("a", { href: withAsOf(`#/tasks/${encodeURIComponent(id)}`), class: "mono", title: id }, text) : "–";
}

function withAsOf(hash) {
  const asOf = route().params.get("as_of");
  if (!asOf) return hash;
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  params.set("as_of", asOf);
  return `${path}?${params}`;
}

function route() {
  const raw = window.location.hash.replace(/^#/, "") || "/mesh";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

function go(parts, params) {
  const query = params.toString();
  window.location.hash = `#/${parts.map(encodeURIComponent).join("/")}${query ? `?${query}` : ""}`;
}

// One banner, several sources: each clears only its own message, so a live update arriving a moment later
// does not wipe the answer to what the person just typed.
function showBanner(text, source = "page") {
  const banner = document.getElementById("banner");
  if (!text && banner.dataset.source && banner.dataset.source !== source) return;
  banner.textContent = text || "";
  banner.hidden = !text;
  banner.dataset.source = text ? source : "";
}

function problem(container, error) {
  container.replaceChildren(h("div", { class: "error", role: "alert" }, error.message || String(error)));
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "message" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((header) => {
      const [label, kind] = Array.isArray(header) ? header : [header, ""];
      return h("th", { class: kind }, label);
    }))),
    h("tbody", {}, rows),
  );
}

function cell(content, kind = "") {
  return h("td", { class: kind }, content);
}

// --- the header: status line and counts --------------------------------------------------------------------------

function drawStatus() {
  const overview = app.overview;
  const status = document.getElementById("status");
  if (!overview) return;
  const mode = overview.status === "live" ? "live" : overview.status === "catching up" ? "catching" : overview.status;
  const parts = [
    h("span", { class: mode, id: "feed-status" }, h("span", { class: "dot" }), `${overview.status}`, overview.detail ? `: ${overview.detail}` : ""),
    h("span", {}, "mesh ", h("code", {}, overview.prefix || "(no prefix)"), " on ", h("code", {}, overview.kafka)),
  ];
  if (overview.as_of) {
    parts.push(h("span", { class: "asof", id: "as-of-shown" }, `as of ${clock(overview.as_of)} UTC, read back from the log: live updates paused`));
    if (!overview.complete) parts.push(h("span", { class: "error" }, "the log could not be read to its end in time: this view may miss records"));
  }
  parts.push(h("span", { class: "state-count", id: "task-total" }, h("b", {}, overview.tasks), " tasks"));
  for (const state of STATES) {
    parts.push(h("span", { class: "state-count", "data-state": state }, `${state} `, h("b", {}, overview.counts[state] || 0)));
  }
  parts.push(h("span", {}, `${overview.agents.alive} of ${overview.agents.registered} agents alive`));
  status.replaceChildren(...parts);
  const count = document.getElementById("dead-letter-count");
  const total = overview.dead_letters + overview.unreadable;
  count.textContent = total ? String(total) : "";
}

// --- views ---------------------------------------------------------------------------------------------------------

async function meshView(container) {
  const body = await api("/api/agents");
  const rows = body.agents.map((agent) => {
    const metrics = agent.metrics || null;
    const seen = agent.log || {};
    const liveness = !agent.registered ? badge("not in directory", "unregistered") : agent.alive ? badge("alive") : badge("dead");
    const handling = metrics && metrics.handling ? Object.entries(metrics.handling) : [];
    const latency = handling.length
      ? handling.map(([type, values]) => h("div", { class: "mono" }, `${type.replace("a2a.", "")} p50 ${seconds(values.p50)} p99 ${seconds(values.p99)}`))
      : metrics && metrics.error ? h("span", { class: "quiet" }, metrics.error) : "–";
    return h(
      "tr",
      { "data-agent": agent.agent_id },
      cell(h("b", {}, agent.agent_id)),
      cell(agent.type || (seen.roles || []).join(", ") || "–"),
      cell(h("span", { class: "chips" }, (agent.capabilities || []).map((name) => h("span", {}, name)))),
      cell([liveness, " ", agent.status ? badge(agent.status) : ""]),
      cell(agent.last_seen ? h("span", { title: agent.last_seen }, ago(agent.last_seen)) : seen.last_seen ? h("span", { class: "quiet", title: "last message in the log" }, ago(seen.last_seen)) : "–"),
      cell(agent.load ?? "–", "number"),
      cell(agent.current_task ? [taskLink(agent.current_task), agent.progress !== null && agent.progress !== undefined ? ` ${Math.round(agent.progress * 100)}%` : ""] : "–"),
      cell(metrics && metrics.in_flight !== undefined ? metrics.in_flight : "–", "number"),
      cell(metrics && metrics.lag !== undefined ? metrics.lag : "–", "number"),
      cell(latency),
      cell(seen.messages ?? 0, "number"),
      cell((seen.open_tasks || []).length, "number"),
    );
  });
  container.replaceChildren(
    h("h1", {}, "Mesh"),
    h("p", { class: "quiet" }, "Every agent of the directory (alive while it heartbeats) and every agent the task topics mention. Load, state and current task come from the agents' STATE_SYNC; in flight, lag and handling latency from their /metrics."),
    table(
      ["Agent", "Role", "Capabilities", "State", "Last heartbeat", ["Load", "number"], "Current task", ["In flight", "number"], ["Lag", "number"], "Handling (from /metrics)", ["Messages", "number"], ["Open tasks", "number"]],
      rows,
      "No agent has joined this mesh yet, and none appears in its log.",
    ),
  );
}

async function tasksView(container) {
  const { params } = route();
  const chosen = params.getAll("state");
  const offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  const body = await api("/api/tasks", {
    state: chosen,
    capability: params.get("capability"),
    agent: params.get("agent"),
    offset,
    limit: PAGE,
  });
  const update = (name, value) => {
    const next = new URLSearchParams(params);
    next.delete("offset");
    if (value) next.set(name, value);
    else next.delete(name);
    go(["tasks"], next);
  };
  const stateBoxes = STATES.map((state) =>
    h("label", {},
      h("input", {
        type: "checkbox", value: state, checked: chosen.includes(state), "data-filter-state": state,
        onchange: (event) => {
          const next = new URLSearchParams(params);
          next.delete("offset");
          next.delete("state");
          const wanted = new Set(chosen);
          if (event.target.checked) wanted.add(state);
          else wanted.delete(state);
          for (const item of STATES) if (wanted.has(item)) next.append("state", item);
          go(["tasks"], next);
        },
      }),
      badge(state), h("span", { class: "quiet", "data-count": state }, String(body.counts[state] || 0))));
  const select = (name, options, label) =>
    h("label", {}, label, " ",
      h("select", { name, onchange: (event) => update(name, event.target.value) },
        h("option", { value: "" }, "all"),
        options.map((option) => h("option", { value: option, selected: params.get(name) === option }, option))));
  const rows = body.items.map((task) =>
    h("tr", { "data-task": task.task_id },
      cell(taskLink(task.task_id)),
      cell(badge(task.state)),
      cell(task.capability || "–"),
      cell(task.description || "–", "wrap"),
      cell(task.requester || "–"),
      cell(task.provider || "–"),
      cell(task.executor || "–"),
      cell(money(task.proposed_cost), "number"),
      cell(money(task.agreed_cost), "number"),
      cell(task.rounds, "number"),
      cell(clock(task.updated))));
  const last = Math.min(body.total, offset + body.items.length);
  const page = (delta) => {
    const next = new URLSearchParams(params);
    next.set("offset", String(Math.max(0, offset + delta)));
    go(["tasks"], next);
  };
  container.replaceChildren(
    h("h1", {}, "Tasks"),
    h("div", { class: "filters" }, stateBoxes, select("capability", body.capabilities, "Capability"), select("agent", body.agents, "Agent")),
    h("div", { class: "pager" },
      h("span", { id: "task-range" }, body.total ? `${offset + 1}–${last} of ${body.total}` : "0 tasks"),
      h("button", { type: "button", disabled: offset === 0, onclick: () => page(-PAGE) }, "Newer"),
      h("button", { type: "button", disabled: last >= body.total, onclick: () => page(PAGE) }, "Older")),
    table(
      ["Task", "State", "Capability", "Description", "Requester", "Provider", "Executor", ["Offered", "number"], ["Agreed", "number"], ["Rounds", "number"], "Updated (UTC)"],
      rows,
      chosen.length || params.get("capability") || params.get("agent") ? "No task matches these filters." : "No task in the log yet.",
    ),
  );
}

function entryLine(entry) {
  if (!entry) return h("span", { class: "quiet" }, "–");
  return h("span", {}, h("b", {}, entry.agent), ` ${entry.event}`, entry.price !== null ? ` ${money(entry.price)}` : "",
    entry.detail ? h("span", { class: "quiet" }, ` – ${entry.detail}`) : "", h("span", { class: "quiet" }, `  ${clock(entry.at)}`));
}

async function taskView(container, id) {
  const body = await api(`/api/tasks/${encodeURIComponent(id)}`);
  const task = body.task;
  const facts = [
    ["State", badge(task.state)],
    ["Capability", task.capability || "–"],
    ["Description", task.description || "–"],
    ["Requested by", task.requester || "–"],
    ["Offered / agreed", `${money(task.proposed_cost)} / ${money(task.agreed_cost)}`],
    ["Provider", task.provider || "–"],
    ["Executor", task.executor || "–"],
    ["Trace id", body.trace_id ? h("code", { id: "trace-id" }, body.trace_id) : "–"],
    ["Agents involved", h("span", { class: "chips" }, body.agents.map((agent) => h("span", {}, `${agent.agent} (${agent.roles.join(", ")})`)))],
  ];
  if (task.collaboration_id) facts.push(["Collaboration", h("code", {}, task.collaboration_id)]);
  const rounds = body.rounds.map((round) =>
    h("tr", { "data-round": round.round },
      cell(round.round, "number"),
      cell(round.ask ? [h("b", {}, round.ask.agent), ` asks ${money(round.ask.price)}`] : "–"),
      cell(round.answer ? [h("b", {}, round.answer.agent), ` ${round.answer.event}`, round.answer.price !== null ? ` ${money(round.answer.price)}` : ""] : "–"),
      cell(round.answer && round.answer.detail ? round.answer.detail : "", "wrap"),
      cell(clock((round.answer || round.ask).at))));
  const outcome = body.outcome;
  const timeline = body.timeline.map((entry) =>
    h("tr", {},
      cell(clock(entry.at)),
      cell([h("b", {}, entry.agent), h("span", { class: "quiet" }, ` ${entry.role}`)]),
      cell(badge(entry.event)),
      cell(money(entry.price), "number"),
      cell(entry.round || "", "number"),
      cell(entry.detail || (entry.progress !== null && entry.event === "RUNNING" ? `${Math.round(entry.progress * 100)}%` : ""), "wrap"),
      cell(entry.target || "–"),
      cell(h("span", { class: "mono" }, `${entry.topic}[${entry.partition}]@${entry.offset}`))));
  container.replaceChildren(
    h("h1", {}, "Task ", h("code", {}, task.task_id)),
    h("dl", { class: "facts" }, facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    h("h2", {}, "Request"),
    h("div", { class: "phase", id: "phase-request" }, entryLine(body.request)),
    h("h2", {}, `Negotiation (${body.rounds.length} round${body.rounds.length === 1 ? "" : "s"})`),
    h("div", { id: "rounds" }, table([["Round", "number"], "Provider's offer", "Requester's answer", "Reason", "Time (UTC)"], rounds, "No negotiation round: the first offer was answered at once.")),
    h("h2", {}, "Award"),
    h("div", { class: "phase", id: "phase-award" }, body.award ? entryLine(body.award) : h("span", { class: "quiet" }, "not awarded")),
    h("h2", {}, "Progress"),
    h("div", { class: "phase" }, body.progress.length
      ? body.progress.map((entry) => h("div", {}, h("span", { class: "progress" }, h("i", { style: `width:${Math.round((entry.progress || 0) * 100)}%` })), `${Math.round((entry.progress || 0) * 100)}% on ${entry.agent}`, entry.detail ? ` – ${entry.detail}` : "", h("span", { class: "quiet" }, `  ${clock(entry.at)}`)))
      : h("span", { class: "quiet" }, "no progress reported")),
    ...(body.cancel ? [h("h2", {}, "Cancel"), h("div", { class: "phase", id: "phase-cancel" }, entryLine(body.cancel))] : []),
    h("h2", {}, "Outcome"),
    h("div", { class: "phase", id: "phase-outcome" }, outcome
      ? [badge(outcome.event), " ", entryLine(outcome)]
      : h("span", { class: "quiet" }, `still ${task.state}`)),
    h("h2", {}, `Timeline (${body.timeline.length} messages)`),
    table(["Time (UTC)", "From", "Event", ["Price", "number"], ["Round", "number"], "Detail", "To", "Record"], timeline, "No message."),
  );
}

async function workflowsView(container) {
  const { params } = route();
  const chosen = params.getAll("state");
  const offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  const body = await api("/api/workflows", { state: chosen, offset, limit: PAGE });
  const rows = body.items.map((session) =>
    h("tr", { "data-session": session.session_id },
      cell(h("code", { title: session.session_id }, short(session.session_id))),
      cell(session.workflow_id),
      cell(badge(session.state)),
      cell(clock(session.started_at)),
      cell(session.finished ? seconds(session.finished - session.started) : "–", "number"),
      cell(h("table", { class: "steps" }, session.steps.map((step) =>
        h("tr", { "data-step": step.name },
          cell(h("b", {}, step.name)),
          cell(badge(step.state)),
          cell(step.agent ? `on ${step.agent}` : h("span", { class: "quiet" }, "no agent yet")),
          cell(`${step.attempts.length} attempt${step.attempts.length === 1 ? "" : "s"}`),
          cell(step.attempts.map((attempt) => h("div", { class: "attempt" },
            `#${attempt.attempt} ${attempt.agent_id || "no live agent"} ${attempt.state}${attempt.error ? `: ${attempt.error}` : ""}`)), "wrap quiet"),
          cell(step.error || "", "wrap"))))),
      cell(session.error || "", "wrap")));
  const boxes = SESSION_STATES.map((state) =>
    h("label", {}, h("input", {
      type: "checkbox", checked: chosen.includes(state),
      onchange: (event) => {
        const next = new URLSearchParams(params);
        next.delete("state");
        next.delete("offset");
        const wanted = new Set(chosen);
        if (event.target.checked) wanted.add(state);
        else wanted.delete(state);
        for (const item of SESSION_STATES) if (wanted.has(item)) next.append("state", item);
        go(["workflows"], next);
      },
    }), badge(state)));
  const last = Math.min(body.total, offset + body.items.length);
  const page = (delta) => {
    const next = new URLSearchParams(params);
    next.set("offset", String(Math.max(0, offset + delta)));
    go(["workflows"], next);
  };
  container.replaceChildren(
    h("h1", {}, "Workflows"),
    h("div", { class: "filters" }, boxes),
    h("div", { class: "pager" },
      h("span", {}, body.total ? `${offset + 1}–${last} of ${body.total} sessions` : "0 sessions"),
      h("button", { type: "button", disabled: offset === 0, onclick: () => page(-PAGE) }, "Newer"),
      h("button", { type: "button", disabled: last >= body.total, onclick: () => page(PAGE) }, "Older")),
    table(["Session", "Workflow", "State", "Started (UTC)", ["Took", "number"], "Steps: state, agent, attempts", "Error"], rows, "No workflow session in the log."),
  );
}

async function deadLettersView(container) {
  const { params } = route();
  const offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  const body = await api("/api/dead-letters", { offset, limit: PAGE });
  const rows = body.items.map((letter) =>
    h("tr", { "data-dead-letter": `${letter.partition}:${letter.offset}` },
      cell(clock(letter.at)),
      cell(h("b", { class: "reason" }, letter.reason), "wrap"),
      cell(letter.stage ? badge(letter.stage) : "–"),
      cell(letter.error_class ? h("code", {}, letter.error_class.split(".").pop()) : "–"),
      cell(letter.agent || "–"),
      cell(letter.original_topic ? h("span", { class: "mono" }, `${letter.original_topic}[${letter.original_partition}]@${letter.original_offset}`) : "–"),
      cell(letter.decode_error
        ? h("span", { class: "quiet" }, `not decodable: ${letter.decode_error}`)
        : [letter.task_id ? taskLink(letter.task_id) : "", " ", letter.summary || letter.kind || ""], "wrap"),
      cell(letter.key ? h("code", {}, letter.key.slice(0, 40)) : "–")));
  const unreadable = body.unreadable.map((record) =>
    h("tr", {},
      cell(clock(record.at)),
      cell(h("span", { class: "mono" }, `${record.topic}[${record.partition}]@${record.offset}`)),
      cell(record.error, "wrap"),
      cell(record.key ? h("code", {}, record.key.slice(0, 40)) : "–")));
  const last = Math.min(body.kept, offset + body.items.length);
  const page = (delta) => {
    const next = new URLSearchParams(params);
    next.set("offset", String(Math.max(0, offset + delta)));
    go(["dead-letters"], next);
  };
  container.replaceChildren(
    h("h1", {}, "Dead letters"),
    h("p", { class: "quiet" }, `Records the agents could not handle, as written to the dead-letter topic: ${body.total} in all${body.kept < body.total ? `, the newest ${body.kept} kept` : ""}.`),
    !body.kept ? "" : h("div", { class: "pager" },
      h("span", {}, `${offset + 1}–${last} of ${body.kept}`),
      h("button", { type: "button", disabled: offset === 0, onclick: () => page(-PAGE) }, "Newer"),
      h("button", { type: "button", disabled: last >= body.kept, onclick: () => page(PAGE) }, "Older")),
    table(["Dead-lettered (UTC)", "Reason", "Stage", "Error", "Agent", "Original record", "Message", "Key"], rows, "No dead letter: every record was handled."),
    h("h2", {}, `Unreadable records on the mesh's topics (${body.unreadable_total})`),
    table(["Written (UTC)", "Record", "Why it cannot be read", "Key"], unreadable, "None: every record on the mesh's topics could be decoded."),
  );
}

async function chartsView(container) {
  const { params } = route();
  const minutes = params.get("minutes") || "5";
  const body = await api("/api/charts", { minutes });
  const from = body.end - body.seconds * 1000;
  const rates = Object.entries(body.rates.topics).map(([topic, counts]) => ({
    name: topic,
    points: counts.map((count, index) => [body.rates.first + index * body.rates.step, count]),
  }));
  const latency = body.latency;
  const latencySeries = ["p50", "p99"].map((key) => ({
    name: key,
    points: latency.buckets.map((bucket) => [bucket.t, bucket[key]]),
  }));
  const agentSeries = Object.entries(body.agent_rates).map(([agent, points]) => ({ name: agent, points }));
  const range = h("label", {}, "Range ",
    h("select", {
      id: "minutes",
      onchange: (event) => {
        const next = new URLSearchParams(params);
        next.set("minutes", event.target.value);
        go(["charts"], next);
      },
    }, ["1", "5", "15"].map((value) => h("option", { value, selected: value === minutes }, `last ${value} min`))));
  container.replaceChildren(
    h("h1", {}, "Throughput and latency"),
    h("div", { class: "filters" }, range, h("span", { class: "quiet" }, `up to ${clock(new Date(body.end).toISOString())} UTC`)),
    h("h2", {}, "Records per second, per topic (from the log)"),
    lineChart(rates, { from, to: body.end, unit: "records/s", title: "records per second per topic", empty: "no record in this time range" }),
    h("h2", {}, "Request → completion latency (from the log)"),
    h("div", { class: "summary", id: "latency-summary" },
      h("div", {}, h("b", {}, latency.count), "tasks completed"),
      h("div", {}, h("b", {}, seconds(latency.p50)), "p50"),
      h("div", {}, h("b", {}, seconds(latency.p99)), "p99")),
    lineChart(latencySeries, { from, to: body.end, unit: "seconds", format: (value) => seconds(value), title: "request to completion latency", empty: "no task completed in this time range" }),
    h("h2", {}, "Messages handled per second, per agent (from their /metrics)"),
    body.agent_rates && agentSeries.length
      ? lineChart(agentSeries, { from, to: body.end, unit: "messages/s", format: (value) => value.toFixed(1), title: "messages handled per second per agent" })
      : h("p", { class: "message" }, route().params.get("as_of") ? "The agents' /metrics are read live only: not shown as of a past time." : "No agent's /metrics has been read yet (they are read every 2 s from the addresses in the directory)."),
  );
}

const VIEWS = {
  mesh: { draw: meshView, sections: ["agents", "metrics"] },
  tasks: { draw: tasksView, sections: ["tasks"] },
  task: { draw: taskView, sections: ["tasks"] },
  workflows: { draw: workflowsView, sections: ["workflows"] },
  "dead-letters": { draw: deadLettersView, sections: ["dead_letters"] },
  charts: { draw: chartsView, sections: ["tasks", "dead_letters", "workflows", "metrics"] },
};

// --- wiring ----------------------------------------------------------------------------------------------------------

async function draw() {
  const container = document.getElementById("view");
  const { parts, params } = route();
  const asOf = document.getElementById("as-of");
  // Not while someone types in it: the first draw comes after the page loaded, and would wipe what they typed.
  if (document.activeElement !== asOf) asOf.value = params.get("as_of") || "";
  let name = parts[0] || "mesh";
  let argument = null;
  if (name === "tasks" && parts.length > 1) {
    name = "task";
    argument = parts[1];
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === (name === "task" ? "tasks" : name));
  }
  const view = VIEWS[name];
  if (!view) {
    app.view = null;
    problem(container, new Error(`No such page: #/${parts.join("/")}. The pages are Mesh, Tasks, Workflows, Dead letters and Charts.`));
    return;
  }
  app.view = { name, argument, ...view };
  await refresh(true);
}

async function refresh(first = false) {
  const view = app.view;
  if (!view) return;
  if (app.refreshing) {
    app.again = true;
    return;
  }
  app.refreshing = true;
  const container = document.getElementById("view");
  const versions = app.overview ? { ...app.overview.versions } : {};
  try {
    const focused = document.activeElement && document.activeElement.id;
    await view.draw(container, view.argument);
    app.seen = versions;
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  } catch (error) {
    if (first || !(error instanceof ApiError) || !String(error.message).startsWith("the console server did not answer")) {
      problem(container, error);
    }
  } finally {
    app.refreshing = false;
  }
  if (app.again) {
    app.again = false;
    await refresh();
  }
}

function changedFor(view) {
  if (!app.overview) return false;
  return view.sections.some((section) => app.overview.versions[section] !== app.seen[section]);
}

async function loadOverview() {
  try {
    app.overview = await api("/api/overview");
    app.clockSkew = Date.parse(app.overview.now) - Date.now();
    drawStatus();
  } catch (error) {
    showBanner(error.message, "connection");
  }
}

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("overview", (event) => {
    showBanner("", "connection");
    if (route().params.get("as_of")) return; // a view of the past does not move
    app.overview = JSON.parse(event.data);
    app.clockSkew = Date.parse(app.overview.now) - Date.now();
    drawStatus();
    if (app.view && changedFor(app.view)) refresh();
  });
  events.addEventListener("error", () => {
    showBanner("Lost the connection to the console server; retrying… (the page shows what it last received)", "connection");
  });
}

function wireAsOf() {
  document.getElementById("as-of-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("as-of").value.trim();
    const { parts, params } = route();
    if (!text) {
      params.delete("as_of");
      go(parts, params);
      return;
    }
    try {
      const response = await fetch(`/api/overview?as_of=${encodeURIComponent(text)}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `the console answered ${response.status}`);
      if (body.as_of) params.set("as_of", body.as_of);
      else params.delete("as_of");
      showBanner("", "as-of");
      go(parts, params);
    } catch (error) {
      showBanner(`As of ${JSON.stringify(text)}: ${error.message}`, "as-of");
    }
  });
  document.getElementById("live").addEventListener("click", () => {
    const { parts, params } = route();
    params.delete("as_of");
    go(parts, params);
  });
}

window.addEventListener("error", (event) => showBanner(`The page hit an error: ${event.message}`));
window.addEventListener("unhandledrejection", (event) => showBanner(`The page hit an error: ${event.reason && event.reason.message ? event.reason.message : event.reason}`));
window.addEventListener("hashchange", async () => {
  showBanner("", "as-of");
  await loadOverview();
  await draw();
});

wireAsOf();
await loadOverview();
await draw();
listen();
