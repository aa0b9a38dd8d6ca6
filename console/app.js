/* steward console: one page, no framework, no build step.
 *
 * stewardd embeds this file and serves it at /console/app.js. It speaks
 * the same JSON API as stewardctl (/api/v1/...), signed in with a session
 * cookie instead of a bearer token: POST /api/v1/console/session trades
 * an admin token for the cookie (HttpOnly, SameSite=Strict) and a CSRF
 * token that every write sends back as X-Steward-CSRF. The CSRF token
 * lives only in this page's memory; a reload asks GET
 * /api/v1/console/session for it again.
 *
 * Every text that came from the site goes into the page through
 * textContent (el() below), never as HTML. The page loads nothing from
 * anywhere but the site (the Content-Security-Policy says so too).
 */
"use strict";

const API = "/api/v1";
const REFRESH_MS = 2000; /* live pages (an advert's status, a rollout) */
const PAGE_SIZE = 50;
const ROLE_RANK = { read: 1, operator: 2, admin: 3 };

let session = null; /* {name, role, csrf, expires} */
let timers = [];    /* the refreshes of the page shown; cleared on navigation */
let renderSeq = 0;  /* a newer navigation makes an older page's replies stale */

/* ---- DOM --------------------------------------------------------------- */

function el(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith("on"))
			e.addEventListener(k.slice(2), v);
		else if (k === "class")
			e.className = v;
		else
			e.setAttribute(k, v === true ? "" : String(v));
	}
	for (const k of kids.flat(Infinity)) {
		if (k === null || k === undefined || k === false)
			continue;
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
	const e = document.createElementNS(SVG_NS, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, String(v));
	for (const k of kids)
		e.append(k instanceof Node ? k : document.createTextNode(String(k)));
	return e;
}

function main() { return document.getElementById("main"); }

/* What a page function returns: route() shows it unless a newer
 * navigation started meanwhile. */
function page(...nodes) { return nodes; }

function show(...nodes) {
	const m = main();
	m.replaceChildren(...nodes.flat().filter(n => n !== null && n !== undefined && n !== false));
	m.removeAttribute("aria-busy");
}

/* ---- the API ----------------------------------------------------------- */

class ApiError extends Error {
	constructor(status, body) {
		const e = (body && body.error) || {};
		super(e.message || `HTTP ${status}`);
		this.status = status;
		this.code = e.code || "http_" + status;
		this.remedy = e.remedy || "";
	}
}

async function api(method, path, body) {
	const headers = { Accept: "application/json" };
	if (method !== "GET" && method !== "HEAD") {
		if (session)
			headers["X-Steward-CSRF"] = session.csrf;
		if (body !== undefined)
			headers["Content-Type"] = "application/json";
	}
	const r = await fetch(API + path, {
		method,
		headers,
		credentials: "same-origin",
		cache: "no-store",
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	let data = null;
	const text = await r.text();
	if (text) {
		try {
			data = JSON.parse(text);
		} catch (_) {
			data = null;
		}
	}
	if (r.status === 401 && path !== "/console/session") {
		/* the session ended (expired, signed out elsewhere, admin revoked) */
		session = null;
		signInPage(data && data.error ? data.error.message : "Your session ended.");
		throw new ApiError(r.status, data);
	}
	if (!r.ok)
		throw new ApiError(r.status, data);
	return data;
}

function errorBox(err) {
	return el("div", { class: "error", role: "alert" },
		el("strong", {}, err.code ? `${err.code}: ` : ""), err.message || String(err),
		err.remedy ? el("div", { class: "remedy" }, "What to do: ", err.remedy) : null);
}

function can(role) {
	return session && ROLE_RANK[session.role] >= ROLE_RANK[role];
}

/* ---- formatting -------------------------------------------------------- */

function enc(s) { return encodeURIComponent(s); }

function fmtTime(v) {
	if (v === null || v === undefined || v === "" || v === 0)
		return "—";
	const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
	if (isNaN(d))
		return String(v);
	return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function ago(v) {
	if (!v)
		return "never";
	const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
	const s = Math.round((Date.now() - d.getTime()) / 1000);
	if (isNaN(s))
		return String(v);
	if (s < 60) return `${Math.max(s, 0)} s ago`;
	if (s < 3600) return `${Math.floor(s / 60)} min ago`;
	if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

function fmtValue(v) {
	if (v === null || v === undefined)
		return "—";
	if (Array.isArray(v))
		return v.map(x => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") || "—";
	if (typeof v === "object")
		return JSON.stringify(v);
	if (typeof v === "boolean")
		return v ? "yes" : "no";
	return String(v);
}

function badge(text, kind) {
	return el("span", { class: `badge badge-${kind || String(text).replace(/[^a-z_-]/gi, "")}` }, text);
}

/* A table: cols is [{h: header, f: row => cell}] */
function table(cols, rows, opts) {
	opts = opts || {};
	if (!rows.length)
		return el("p", { class: "empty" }, opts.empty || "None.");
	return el("div", { class: "table-wrap" },
		el("table", { class: "grid", "data-table": opts.name || null },
			el("thead", {}, el("tr", {}, cols.map(c => el("th", { scope: "col" }, c.h)))),
			el("tbody", {}, rows.map(r => el("tr", { "data-key": opts.key ? opts.key(r) : null },
				cols.map(c => el("td", { "data-label": c.h }, c.f(r))))))));
}

/* A field that holds a time as unix seconds */
function timeKey(k, v) {
	return typeof v === "number" && v > 1e9 && v < 1e11 &&
		/(^|_)(time|measured|created|enrolled|seen|updated|started|finished|expires|first|last|at)$/.test(k);
}

/* Key and value of every plain field of an object */
function kvTable(obj, skip) {
	const rows = Object.entries(obj || {}).filter(([k, v]) =>
		!(skip || []).includes(k) && (v === null || typeof v !== "object" || Array.isArray(v)));
	return el("table", { class: "kv" },
		el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k.replace(/_/g, " ")),
			el("td", {}, timeKey(k, v) ? fmtTime(v) : fmtValue(v))))));
}

function section(title, ...kids) {
	return el("section", { class: "card" }, el("h2", {}, title), ...kids);
}

function link(href, text) { return el("a", { href }, text); }

/* ---- charts (SVG drawn here: no library) -------------------------------- */

function barChart(values, labels, title) {
	const W = 720, H = 180, pad = 28, n = values.length || 1;
	const max = Math.max(1, ...values);
	const bw = (W - pad * 2) / n;
	const s = svg("svg", { viewBox: `0 0 ${W} ${H + 24}`, class: "chart", role: "img", "aria-label": title });
	s.append(svg("title", {}, title));
	s.append(svg("line", { x1: pad, y1: H, x2: W - pad, y2: H, class: "axis" }));
	s.append(svg("text", { x: 2, y: 12, class: "tick" }, String(max)));
	values.forEach((v, i) => {
		const h = Math.round((v / max) * (H - 20));
		const r = svg("rect", { x: pad + i * bw + 2, y: H - h, width: Math.max(bw - 4, 1), height: h, class: "bar" });
		r.append(svg("title", {}, `${labels[i]}: ${v}`));
		s.append(r);
		if (i % 3 === 0 || i === n - 1)
			s.append(svg("text", { x: pad + i * bw + bw / 2, y: H + 16, class: "tick", "text-anchor": "middle" }, labels[i]));
	});
	return s;
}

/* One bar split by state: parts [{label, value, kind}] */
function stackBar(parts, title) {
	const total = parts.reduce((a, p) => a + p.value, 0);
	const bar = el("div", { class: "stack", role: "img", "aria-label": title });
	for (const p of parts) {
		if (!p.value)
			continue;
		const seg = el("span", { class: `seg seg-${p.kind}`, title: `${p.label}: ${p.value}` });
		seg.style.width = `${(100 * p.value) / Math.max(total, 1)}%`;
		bar.append(seg);
	}
	const legend = el("ul", { class: "legend" }, parts.map(p =>
		el("li", {}, el("span", { class: `dot seg-${p.kind}` }), `${p.label} ${p.value}`)));
	return el("div", { class: "stack-wrap" }, bar, legend);
}

function stateKind(state) {
	const s = String(state);
	if (/fail|error|halt|block|refus|abort|rolled/.test(s)) return "bad";
	if (/succe|complet|done|installed|approved|ok|up/.test(s)) return "good";
	if (/run|offer|download|progress|active|start|wait|pend|defer/.test(s)) return "busy";
	return "other";
}

/* ---- dialogs ----------------------------------------------------------- */

/* A modal form; resolves to the values, or null when cancelled. */
function ask(title, fields, submitText) {
	return new Promise(resolve => {
		const inputs = {};
		const form = el("form", { method: "dialog", class: "dialog-form" },
			el("h2", {}, title),
			fields.map(f => {
				const id = `dlg-${f.name}`;
				inputs[f.name] = el("input", { id, name: f.name, type: f.type || "text", value: f.value || "", placeholder: f.placeholder || "", required: f.required || null, maxlength: f.maxlength || 256 });
				return el("p", {}, el("label", { for: id }, f.label), inputs[f.name]);
			}),
			el("div", { class: "actions" },
				el("button", { type: "button", class: "secondary", value: "cancel", onclick: () => { dlg.close(); } }, "Cancel"),
				el("button", { type: "submit", value: "ok" }, submitText || "OK")));
		const dlg = el("dialog", { "aria-label": title }, form);
		let ok = false;
		form.addEventListener("submit", () => { ok = true; });
		dlg.addEventListener("close", () => {
			dlg.remove();
			if (!ok)
				return resolve(null);
			const out = {};
			for (const [k, i] of Object.entries(inputs))
				out[k] = i.value;
			resolve(out);
		});
		document.body.append(dlg);
		dlg.showModal();
		const first = Object.values(inputs)[0];
		if (first)
			first.focus();
	});
}

function confirmAction(title) { return ask(title, [], "Confirm"); }

/* A button that runs an API write, then redraws the page. */
function actionButton(text, role, run, opts) {
	if (!can(role))
		return null;
	return el("button", {
		type: "button", class: (opts && opts.danger) ? "danger" : null, "data-action": text.toLowerCase(),
		onclick: async ev => {
			const b = ev.currentTarget;
			b.disabled = true;
			try {
				const done = await run();
				if (done !== false) {
					flash(`${text}: done`);
					route();
				}
			} catch (e) {
				if (e.status !== 401)
					flashError(e);
			} finally {
				b.disabled = false;
			}
		},
	}, text);
}

function flash(text) {
	const f = document.getElementById("flash");
	f.replaceChildren(el("div", { class: "ok", role: "status" }, text));
}

function flashError(e) {
	document.getElementById("flash").replaceChildren(errorBox(e));
}

/* ---- the frame ----------------------------------------------------------- */

const NAV = [
	["#/", "Overview"], ["#/clients", "Clients"], ["#/collections", "Collections"],
	["#/software", "Software"], ["#/releases", "Releases"], ["#/hierarchy", "Hierarchy"],
	["#/audit", "Audit log"],
];

function frame() {
	const cur = "#/" + (location.hash.replace(/^#\/?/, "").split(/[/?]/)[0] || "");
	const here = h => (h === cur || (h === "#/clients" && cur === "#/client") ||
		(h === "#/collections" && cur === "#/collection") || (h === "#/software" && cur === "#/advert") ||
		(h === "#/releases" && cur === "#/rollout")) ? "page" : null;
	document.getElementById("nav").replaceChildren(
		el("ul", {}, NAV.map(([h, t]) => el("li", {}, el("a", { href: h, "aria-current": here(h) }, t)))),
		el("div", { class: "who" },
			el("span", { id: "whoami" }, `${session.name} (${session.role})`),
			el("button", { type: "button", id: "signout", class: "secondary", onclick: signOut }, "Sign out")));
}

async function signOut() {
	try {
		await api("DELETE", "/console/session");
	} catch (e) {
		/* signed out either way */
	}
	session = null;
	location.hash = "#/";
	signInPage("Signed out.");
}

function signInPage(message) {
	stopTimers();
	document.getElementById("nav").replaceChildren();
	document.getElementById("flash").replaceChildren();
	const token = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, maxlength: 80, placeholder: "stw_…" });
	const err = el("div", { id: "signin-error" });
	const form = el("form", { class: "card signin", onsubmit: async ev => {
		ev.preventDefault();
		err.replaceChildren();
		try {
			session = await api("POST", "/console/session", { token: token.value.trim() });
			token.value = "";
			route();
		} catch (e) {
			err.replaceChildren(errorBox(e));
		}
	} },
	el("h1", {}, "Sign in to steward"),
	message ? el("p", { class: "note" }, message) : null,
	el("p", {}, el("label", { for: "token" }, "Admin token"), token),
	el("p", { class: "hint" }, "The site's first token is in DATA_DIR/admin.token; more come from stewardctl admins create NAME --role ROLE."),
	el("button", { type: "submit", id: "signin" }, "Sign in"), err);
	show(form);
	token.focus();
}

function stopTimers() {
	for (const t of timers)
		clearInterval(t);
	timers = [];
}

/* Redraw part of a page every REFRESH_MS while it is shown */
function live(fn) {
	const seq = renderSeq;
	const t = setInterval(async () => {
		if (seq !== renderSeq || document.hidden || document.querySelector("dialog[open]"))
			return;
		/* keep the keyboard's place: the focused control again after the redraw */
		const a = document.activeElement;
		const key = a && main().contains(a) ? (a.id ? `#${a.id}` : a.dataset.action ? `[data-action="${a.dataset.action}"]` : null) : null;
		try {
			await fn(seq);
		} catch (_) {
			return;
		}
		const again = key && main().querySelector(key);
		if (again)
			again.focus();
	}, REFRESH_MS);
	timers.push(t);
}

/* ---- pages -------------------------------------------------------------- */

async function overviewPage() {
	const [o, site] = await Promise.all([api("GET", "/overview"), api("GET", "/site")]);
	const c = o.clients || { total: 0, by_state: {}, by_version: {} };
	const hours = (o.checkins_per_hour || []).map((_, i, a) => {
		const d = new Date(Date.now() - (a.length - 1 - i) * 3600e3);
		return `${String(d.getUTCHours()).padStart(2, "0")}h`;
	});
	const attention = [];
	if (o.pending)
		attention.push(el("li", {}, link("#/clients?state=pending", `${o.pending} client${o.pending === 1 ? "" : "s"} waiting for approval`)));
	for (const a of o.adverts || [])
		if (a.failed)
			attention.push(el("li", {}, link(`#/advert/${enc(a.name)}`, `advertisement ${a.name}: ${a.failed} failed`)));
	for (const r of o.rollouts || [])
		attention.push(el("li", {}, link(`#/rollout/${enc(r.name)}`, `rollout ${r.name} is ${r.state}`), r.why ? ` (${r.why})` : ""));
	for (const l of o.links || [])
		if (l.backlog)
			attention.push(el("li", {}, link("#/hierarchy", `link to ${l.site}: ${l.backlog} waiting (${l.state})`)));
	if (site.adverts_paused)
		attention.push(el("li", {}, `advertisements are paused at this site${site.adverts_pause_reason ? ": " + site.adverts_pause_reason : ""}`));
	const byState = c.by_state || {};
	return page(
		el("h1", {}, `Site ${site.code}`, el("span", { class: "sub" }, ` ${site.name} · steward ${site.version}`)),
		el("div", { class: "tiles" },
			tile("Clients", c.total, "#/clients"),
			tile("Approved", byState.approved || 0, "#/clients?state=approved"),
			tile("Pending", byState.pending || 0, "#/clients?state=pending"),
			tile("Blocked", byState.blocked || 0, "#/clients?state=blocked"),
			tile("Advertisements", site.adverts, "#/software")),
		section("Needs attention", attention.length ? el("ul", { id: "attention" }, attention) : el("p", { class: "empty", id: "attention" }, "Nothing: no pending clients, failed advertisements, halted rollouts or link backlogs.")),
		section("Clients by the hour of their last check-in (last 24 h)", barChart(o.checkins_per_hour || [], hours, "Clients by the hour of their last check-in")),
		section("Agent versions", table([{ h: "Version", f: r => r[0] }, { h: "Clients", f: r => r[1] }],
			Object.entries(c.by_version || {}).sort((a, b) => b[1] - a[1]), { name: "versions" })));
}

function tile(label, value, href) {
	return el("a", { class: "tile", href }, el("span", { class: "tile-value" }, String(value)), el("span", { class: "tile-label" }, label));
}

const CLIENT_STATES = ["", "pending", "approved", "blocked"];

async function clientsPage(params) {
	const q = params.get("q") || "", state = params.get("state") || "";
	const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
	const qs = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
	if (q) qs.set("q", q);
	if (state) qs.set("state", state);
	const r = await api("GET", "/clients?" + qs.toString());
	const go = (o) => {
		const p = new URLSearchParams();
		if (search.value.trim()) p.set("q", search.value.trim());
		if (sel.value) p.set("state", sel.value);
		if (o) p.set("offset", String(o));
		location.hash = "#/clients" + (p.toString() ? "?" + p : "");
	};
	const search = el("input", { id: "client-search", type: "search", value: q, placeholder: "host name or id", maxlength: 128, "aria-label": "Search clients" });
	const sel = el("select", { id: "client-state", "aria-label": "State" }, CLIENT_STATES.map(s => el("option", { value: s, selected: s === state || null }, s || "any state")));
	const form = el("form", { class: "filters", role: "search", onsubmit: ev => { ev.preventDefault(); go(0); } },
		search, sel, el("button", { type: "submit" }, "Search"));
	const last = Math.min(offset + r.clients.length, r.total);
	const pager = el("nav", { class: "pager", "aria-label": "Pages" },
		el("button", { type: "button", class: "secondary", disabled: offset === 0 || null, onclick: () => go(Math.max(0, offset - PAGE_SIZE)) }, "‹ Previous"),
		el("span", { id: "client-count" }, r.total ? `${offset + 1}–${last} of ${r.total}` : "0 clients"),
		el("button", { type: "button", class: "secondary", disabled: last >= r.total || null, onclick: () => go(offset + PAGE_SIZE) }, "Next ›"));
	return page(el("h1", {}, "Clients"), form,
		table([
			{ h: "Host", f: c => link(`#/client/${enc(c.id)}`, c.hostname || c.id) },
			{ h: "State", f: c => badge(c.state, stateKind(c.state)) },
			{ h: "Agent", f: c => c.agent_version },
			{ h: "OS", f: c => `${c.os_name || ""} ${c.os_version || ""}`.trim() || "—" },
			{ h: "Last seen", f: c => el("time", { datetime: c.last_seen || null, title: fmtTime(c.last_seen) }, ago(c.last_seen)) },
			{ h: "Actions", f: c => clientActions(c) },
		], r.clients, { name: "clients", key: c => c.id, empty: "No client matches." }),
		pager);
}

function clientActions(c) {
	return el("span", { class: "row-actions" },
		c.state !== "approved" ? actionButton("Approve", "operator", () => api("POST", `/clients/${enc(c.id)}/approve`)) : null,
		c.state !== "blocked" ? actionButton("Block", "operator", async () => {
			const v = await ask(`Block ${c.hostname || c.id}`, [{ name: "reason", label: "Reason (shown in the log and to the agent)", value: "blocked by an administrator" }], "Block");
			if (!v)
				return false;
			return api("POST", `/clients/${enc(c.id)}/block`, { reason: v.reason });
		}) : null,
		actionButton("Delete", "admin", async () => {
			if (!(await confirmAction(`Delete ${c.hostname || c.id}? Its key cannot enroll again.`)))
				return false;
			return api("DELETE", `/clients/${enc(c.id)}`);
		}, { danger: true }));
}

async function clientPage(id) {
	const c = await api("GET", `/clients/${enc(id)}`);
	const [inv, status, hist] = await Promise.all([
		api("GET", `/clients/${enc(id)}/inventory`).catch(e => ({ error: e })),
		api("GET", `/status/clients/${enc(id)}`).catch(e => ({ error: e })),
		api("GET", `/clients/${enc(id)}/inventory/history`).catch(e => ({ error: e })),
	]);
	const invBody = inv.error ? (inv.error.status === 404 ? el("p", { class: "empty" }, "No inventory reported yet.") : errorBox(inv.error)) : inventoryView(inv);
	const st = status.error ? errorBox(status.error) : advertStatusOfClient(status);
	const hb = hist.error ? (hist.error.status === 404 ? el("p", { class: "empty" }, "No history.") : errorBox(hist.error)) : historyView(hist);
	return page(el("h1", {}, c.hostname || c.id, " ", badge(c.state, stateKind(c.state))),
		el("div", { class: "toolbar" }, clientActions(c)),
		section("Client", kvTable(c, ["components", "addresses", "messages"]),
			el("h3", {}, "Addresses"), el("p", {}, (c.addresses || []).join(", ") || "—"),
			el("h3", {}, "Components"), table([{ h: "Component", f: x => x.name }, { h: "Version", f: x => x.version }], c.components || [])),
		c.link ? section("Link", kvTable(c.link)) : null,
		(c.messages || []).length ? section("Recent messages from the agent", table([
			{ h: "When", f: m => fmtTime(m.time) }, { h: "Type", f: m => m.type }, { h: "Text", f: m => m.text },
		], c.messages, { name: "messages" })) : null,
		section("Advertisements", st),
		section("Inventory", invBody),
		section("Inventory history", hb));
}

/* An inventory: {schema, classes: {hardware: {...}, os: {...}, software: {packages: [...]}}} */
function inventoryView(inv) {
	const classes = inv.classes || {};
	const out = el("div", { id: "inventory" });
	for (const [cls, body] of Object.entries(classes))
		out.append(el("h3", {}, cls), objectView(body));
	if (!out.childNodes.length)
		out.append(el("p", { class: "empty" }, "No inventory reported yet."));
	return out;
}

/* Plain fields as key and value, nested objects below them, lists of
 * objects as tables (the first 200 rows) */
function objectView(obj) {
	const plain = {}, rest = [];
	for (const [k, v] of Object.entries(obj || {})) {
		if (Array.isArray(v) && v.length && typeof v[0] === "object" && v[0] !== null) {
			const keys = [...new Set(v.slice(0, 20).flatMap(r => Object.keys(r)))].slice(0, 7);
			const t = table(keys.map(kk => ({ h: kk, f: r => fmtValue(r[kk]) })), v.slice(0, 200), { name: k });
			const title = `${k} (${v.length}${v.length > 200 ? ", the first 200 shown" : ""})`;
			/* long lists (a machine's packages) folded until asked for */
			rest.push(v.length > 10 ? el("details", {}, el("summary", {}, title), t) : [el("h4", {}, title), t]);
		} else if (v && typeof v === "object" && !Array.isArray(v)) {
			rest.push(el("h4", {}, k), kvTable(v));
		} else {
			plain[k] = v;
		}
	}
	return el("div", {}, Object.keys(plain).length ? kvTable(plain) : null, rest);
}

function advertStatusOfClient(s) {
	return table([
		{ h: "Advertisement", f: r => link(`#/advert/${enc(r.advert)}`, r.advert) },
		{ h: "State", f: r => badge(r.state, stateKind(r.state)) },
		{ h: "Exit code", f: r => fmtValue(r.exit_code) },
		{ h: "Updated", f: r => fmtTime(r.updated) },
		{ h: "Detail", f: r => r.detail || "" },
	], s.adverts || [], { name: "client-adverts", empty: "No advertisement has reached this client." });
}

function historyView(h) {
	return table([
		{ h: "When", f: r => fmtTime(r.time) },
		{ h: "Class", f: r => r.class },
		{ h: "Change", f: r => fmtValue(r.change) },
	], (Array.isArray(h) ? h : []).slice(0, 100), { name: "history", empty: "No change recorded." });
}

async function collectionsPage() {
	const list = await api("GET", "/collections");
	const create = can("operator") ? el("button", { type: "button", id: "collection-create", onclick: async () => {
		const v = await ask("New collection", [
			{ name: "name", label: "Name", required: true, maxlength: 64 },
			{ name: "query", label: "Query (e.g. os.name = \"Debian GNU/Linux\"); leave empty to list members", maxlength: 4096 },
			{ name: "members", label: "Members: client ids, comma-separated (instead of a query)", maxlength: 4096 },
			{ name: "comment", label: "Comment", maxlength: 256 },
		], "Create");
		if (!v)
			return;
		const body = { name: v.name.trim() };
		if (v.query.trim()) body.query = v.query.trim();
		if (v.members.trim()) body.members = v.members.split(",").map(s => s.trim()).filter(Boolean);
		if (v.comment.trim()) body.comment = v.comment.trim();
		try {
			await api("POST", "/collections", body);
			location.hash = `#/collection/${enc(body.name)}`;
		} catch (e) {
			if (e.status !== 401) flashError(e);
		}
	} }, "New collection") : null;
	return page(el("h1", {}, "Collections"), el("div", { class: "toolbar" }, create),
		table([
			{ h: "Name", f: c => link(`#/collection/${enc(c.name)}`, c.name) },
			{ h: "Kind", f: c => c.kind },
			{ h: "Members", f: c => c.members },
			{ h: "Definition", f: c => c.query || (c.kind === "builtin" ? "built in" : "listed members") },
		], list, { name: "collections", key: c => c.name }));
}

async function collectionPage(name) {
	const [c, members] = await Promise.all([api("GET", `/collections/${enc(name)}`), api("GET", `/collections/${enc(name)}/members`)]);
	const cid = el("input", { id: "explain-client", placeholder: "client id", maxlength: 64, "aria-label": "Client id" });
	const out = el("div", { id: "explain-result", "aria-live": "polite" });
	const explain = el("form", { class: "filters", onsubmit: async ev => {
		ev.preventDefault();
		out.replaceChildren();
		try {
			const r = await api("GET", `/collections/${enc(name)}/explain/${enc(cid.value.trim())}`);
			out.replaceChildren(el("p", {}, badge(r.member ? "member" : "not a member", r.member ? "good" : "other"), " ", r.reason));
		} catch (e) {
			if (e.status !== 401) out.replaceChildren(errorBox(e));
		}
	} }, cid, el("button", { type: "submit" }, "Why?"));
	const rows = members.map(m => (typeof m === "string" ? { id: m } : m));
	return page(el("h1", {}, `Collection ${c.name}`),
		el("div", { class: "toolbar" }, c.kind !== "builtin" ? actionButton("Delete", "operator", async () => {
			if (!(await confirmAction(`Delete collection ${c.name}?`)))
				return false;
			await api("DELETE", `/collections/${enc(c.name)}`);
			location.hash = "#/collections";
			return false;
		}, { danger: true }) : null),
		section("Definition", kvTable(c)),
		section("Is this client a member, and why?", explain, out),
		section(`Members (${rows.length})`, table([
			{ h: "Host", f: m => link(`#/client/${enc(m.id || m.client_id)}`, m.hostname || m.id || m.client_id) },
			{ h: "State", f: m => m.state ? badge(m.state, stateKind(m.state)) : "—" },
			{ h: "Agent", f: m => m.agent_version || "—" },
		], rows.slice(0, 500), { name: "members", key: m => m.id || m.client_id, empty: "No members yet." })));
}

async function softwarePage() {
	const [pk, pr, ad, cols] = await Promise.all([api("GET", "/packages"), api("GET", "/programs"), api("GET", "/adverts"), api("GET", "/collections")]);
	const create = can("operator") && pr.length ? el("button", { type: "button", id: "advert-create", onclick: async () => {
		const v = await ask("New advertisement", [
			{ name: "name", label: "Name", required: true, maxlength: 64 },
			{ name: "program", label: `Program (${pr.map(p => p.name).join(", ")})`, value: pr[0].name, required: true },
			{ name: "collection", label: `Collection (${cols.map(c => c.name).join(", ")})`, required: true },
		], "Create");
		if (!v)
			return;
		try {
			await api("POST", "/adverts", { name: v.name.trim(), program: v.program.trim(), collection: v.collection.trim() });
			location.hash = `#/advert/${enc(v.name.trim())}`;
		} catch (e) {
			if (e.status !== 401) flashError(e);
		}
	} }, "New advertisement") : null;
	return page(el("h1", {}, "Software distribution"),
		section("Advertisements", el("div", { class: "toolbar" }, create), table([
			{ h: "Name", f: a => link(`#/advert/${enc(a.name)}`, a.name) },
			{ h: "Program", f: a => a.program },
			{ h: "Package", f: a => `${a.package} ${a.version}` },
			{ h: "Collection", f: a => link(`#/collection/${enc(a.collection)}`, a.collection) },
			{ h: "Enabled", f: a => badge(a.enabled ? "enabled" : "disabled", a.enabled ? "good" : "other") },
			{ h: "Available", f: a => fmtTime(a.available) },
		], ad, { name: "adverts", key: a => a.name })),
		section("Programs", table([
			{ h: "Name", f: p => p.name }, { h: "Package", f: p => `${p.package} ${p.version}` },
			{ h: "Command", f: p => el("code", {}, p.command) }, { h: "Run", f: p => p.run },
		], pr, { name: "programs" })),
		section("Packages", table([
			{ h: "Name", f: p => p.name }, { h: "Version", f: p => p.version },
			{ h: "Files", f: p => p.files }, { h: "Bytes", f: p => p.bytes },
			{ h: "Created", f: p => `${fmtTime(p.created)} by ${p.created_by}` },
		], pk, { name: "packages" })));
}

async function advertPage(name) {
	const draw = async () => {
		const [a, s] = await Promise.all([api("GET", `/adverts/${enc(name)}`), api("GET", `/status/adverts/${enc(name)}`)]);
		const counts = Object.entries(s.counts || {});
		const parts = counts.map(([k, v]) => ({ label: k, value: v, kind: stateKind(k) }));
		const notReached = Math.max(0, (s.members || 0) - counts.reduce((t, [, v]) => t + v, 0));
		if (notReached)
			parts.push({ label: "not reported", value: notReached, kind: "other" });
		return [
			el("h1", {}, `Advertisement ${a.name}`, " ", badge(a.enabled ? "enabled" : "disabled", a.enabled ? "good" : "other")),
			el("div", { class: "toolbar" },
				a.enabled ? actionButton("Disable", "operator", () => api("POST", `/adverts/${enc(name)}/disable`))
					: actionButton("Enable", "operator", () => api("POST", `/adverts/${enc(name)}/enable`))),
			s.adverts_paused ? el("p", { class: "note" }, "Advertisements are paused at this site: nothing new starts.") : null,
			section("Status", el("p", {}, `${s.members} member${s.members === 1 ? "" : "s"} of ${s.collection}`),
				stackBar(parts, "Status of the clients"),
				table([{ h: "State", f: r => badge(r[0], stateKind(r[0])) }, { h: "Clients", f: r => r[1] }], counts, { name: "advert-counts", key: r => r[0], empty: "No client has reported yet." })),
			section("Clients", table([
				{ h: "Client", f: r => link(`#/client/${enc(r.id)}`, r.hostname || r.id) },
				{ h: "State", f: r => badge(r.state, stateKind(r.state)) },
				{ h: "Exit code", f: r => fmtValue(r.exit_code) },
				{ h: "Updated", f: r => fmtTime(r.updated) },
				{ h: "Detail", f: r => r.detail || "" },
			], (s.clients || []).slice(0, 500), { name: "advert-clients" })),
			section("Definition", kvTable(a)),
		];
	};
	live(async seq => { const n = await draw(); if (seq === renderSeq) show(...n); });
	return page(...(await draw()));
}

async function releasesPage() {
	const [rel, ro] = await Promise.all([api("GET", "/releases"), api("GET", "/rollouts")]);
	return page(el("h1", {}, "Releases and rollouts"),
		section("Rollouts", table([
			{ h: "Name", f: r => link(`#/rollout/${enc(r.name)}`, r.name) },
			{ h: "Release", f: r => r.release },
			{ h: "Collection", f: r => r.collection },
			{ h: "State", f: r => badge(r.state, stateKind(r.state)) },
			{ h: "Wave", f: r => `${r.wave} of ${r.waves_total}` },
			{ h: "Progress", f: r => progress(r.succeeded, r.failed, r.clients) },
		], ro.rollouts || [], { name: "rollouts", key: r => r.name, empty: "No rollout yet: stewardctl rollouts create NAME --release X.Y.Z --collection C." })),
		section("Releases", table([
			{ h: "Version", f: r => r.version },
			{ h: "State", f: r => [badge(r.state, stateKind(r.state)), r.state_reason ? el("div", { class: "hint" }, r.state_reason) : null] },
			{ h: "Upgrades from", f: r => r.upgrade_from || "—" },
			{ h: "On agents", f: r => `${r.succeeded || 0} upgraded, ${r.failed || 0} failed` },
			{ h: "Imported", f: r => `${fmtTime(r.imported)} by ${r.imported_by || "?"}` },
			{ h: "Expires", f: r => fmtTime(r.expires) },
		], rel, { name: "releases", key: r => r.version, empty: "The site holds no release: stewardctl releases import FILE." })));
}

function progress(ok, failed, total) {
	const wrap = el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": total || 0, "aria-valuenow": (ok || 0) + (failed || 0) });
	const g = el("span", { class: "seg seg-good" }), b = el("span", { class: "seg seg-bad" });
	g.style.width = `${total ? (100 * (ok || 0)) / total : 0}%`;
	b.style.width = `${total ? (100 * (failed || 0)) / total : 0}%`;
	wrap.append(g, b);
	return el("div", { class: "progress-wrap" }, wrap, el("span", { class: "progress-text" }, `${ok || 0}/${total || 0}${failed ? `, ${failed} failed` : ""}`));
}

async function rolloutPage(name) {
	const draw = async () => {
		const r = await api("GET", `/rollouts/${enc(name)}`);
		const st = r.state;
		const acts = [
			st === "created" ? actionButton("Start", "admin", () => api("POST", `/rollouts/${enc(name)}/start`)) : null,
			(st === "running" || st === "waiting" || st === "scheduled") ? actionButton("Pause", "operator", () => api("POST", `/rollouts/${enc(name)}/pause`)) : null,
			(st === "paused" || st === "halted") ? actionButton("Resume", "admin", () => api("POST", `/rollouts/${enc(name)}/resume`)) : null,
			(st === "running" || st === "waiting") ? actionButton("Promote", "admin", () => api("POST", `/rollouts/${enc(name)}/promote`)) : null,
			!["completed", "aborted", "rolled_back", "created"].includes(st) ? actionButton("Abort", "operator", async () => {
				if (!(await confirmAction(`Abort rollout ${name}? No more offers; clients keep what they run.`)))
					return false;
				return api("POST", `/rollouts/${enc(name)}/abort`);
			}, { danger: true }) : null,
		];
		return [
			el("h1", {}, `Rollout ${r.name}`, " ", el("span", { id: "rollout-state" }, badge(st, stateKind(st)))),
			el("div", { class: "toolbar" }, acts),
			r.why ? el("p", { class: "note" }, r.why) : null,
			r.halted_because ? el("p", { class: "error" }, `Halted: ${r.halted_because}`) : null,
			section("Progress", progress(r.succeeded, r.failed, r.clients)),
			section("Waves", el("ol", { class: "waves" }, (r.waves || []).map(w => el("li", { "data-wave": w.wave },
				el("div", { class: "wave-head" }, el("strong", {}, `Wave ${w.wave}: ${w.label}`), " ", badge(w.state, stateKind(w.state)), ` ${w.clients} clients`),
				progress(w.succeeded, w.failed, w.clients))))),
			(r.top_failure_reasons || []).length ? section("Top failure reasons", table([{ h: "Reason", f: x => x.reason }, { h: "Clients", f: x => x.clients }], r.top_failure_reasons)) : null,
			section("Definition", kvTable(r, ["waves", "top_failure_reasons", "by_version"])),
		];
	};
	live(async seq => { const n = await draw(); if (seq === renderSeq) show(...n); });
	return page(...(await draw()));
}

function siteTree(node) {
	const backlog = node.backlog_out_messages || 0;
	return el("li", { "data-site": node.code },
		el("span", { class: "site" }, el("strong", {}, node.code), ` ${node.name || ""} · ${node.version || "?"}`,
			node.state ? [" ", badge(node.state, stateKind(node.state))] : null,
			backlog ? ` · ${backlog} waiting to go down` : "",
			node.last_error ? el("div", { class: "hint" }, node.last_error) : null),
		(node.children || []).length ? el("ul", {}, node.children.map(siteTree)) : null);
}

async function hierarchyPage() {
	const [h, sites] = await Promise.all([api("GET", "/hierarchy"), api("GET", "/sites")]);
	return page(el("h1", {}, "Hierarchy"),
		section("This site and the sites below it", el("ul", { class: "tree", id: "tree" }, siteTree(h))),
		section("Links", table([
			{ h: "Site", f: s => `${s.code} ${s.name || ""}` },
			{ h: "Is", f: s => s.relation || "—" },
			{ h: "State", f: s => badge(s.state || "—", stateKind(s.state)) },
			{ h: "Version", f: s => s.version || "—" },
			{ h: "Last in / out", f: s => `${fmtTime(s.last_in)} / ${fmtTime(s.last_out)}` },
			{ h: "Backlog", f: s => `${s.backlog_out_messages || 0} messages, ${s.backlog_out_bytes || 0} bytes` },
			{ h: "Schedule now", f: s => fmtValue(s.schedule_now) },
			{ h: "Last error", f: s => s.last_error || "—" },
		], sites, { name: "links", key: s => s.code, empty: "This site is linked to no other site." })));
}

const AUDIT_PAGE = 1000;

async function auditPage(params) {
	const who = params.get("who") || "";
	const since = Math.floor(Date.now() / 1000) - 7 * 86400;
	let rows = [], after = 0;
	/* oldest first from the site, a page at a time: keep the newest */
	for (let i = 0; i < 50; i++) {
		const qs = new URLSearchParams({ since: String(since), limit: String(AUDIT_PAGE) });
		if (after) qs.set("after", String(after));
		if (who) qs.set("who", who);
		const r = await api("GET", "/audit?" + qs.toString());
		rows = rows.concat(r).slice(-500);
		if (r.length < AUDIT_PAGE)
			break;
		after = r[r.length - 1].id;
	}
	rows.reverse();
	const w = el("input", { id: "audit-who", value: who, placeholder: "admin name", maxlength: 64, "aria-label": "Admin" });
	return page(el("h1", {}, "Audit log"),
		el("form", { class: "filters", onsubmit: ev => { ev.preventDefault(); location.hash = "#/audit" + (w.value.trim() ? "?who=" + enc(w.value.trim()) : ""); } }, w, el("button", { type: "submit" }, "Filter")),
		el("p", { class: "hint" }, "The last 7 days, newest first (at most 500 entries here; stewardctl audit list has them all, and audit verify checks their chain)."),
		table([
			{ h: "Time", f: e => fmtTime(e.time) },
			{ h: "Who", f: e => e.who },
			{ h: "Role", f: e => e.role },
			{ h: "Call", f: e => el("code", {}, `${e.method} ${e.path}`) },
			{ h: "Result", f: e => badge(e.code ? `${e.status} ${e.code}` : String(e.status), e.status >= 400 ? "bad" : "good") },
			{ h: "From", f: e => e.peer || "—" },
		], rows, { name: "audit", key: e => String(e.id), empty: "No entry in the last 7 days." }));
}

/* ---- the router ---------------------------------------------------------- */

async function route() {
	stopTimers();
	const seq = ++renderSeq;
	if (!session) {
		try {
			session = await api("GET", "/console/session");
		} catch (e) {
			return signInPage(e.status === 401 ? null : e.message);
		}
	}
	frame();
	const h = location.hash.replace(/^#\/?/, "");
	const [pathPart, query] = h.split("?");
	const parts = pathPart.split("/").map(decodeURIComponent);
	const params = new URLSearchParams(query || "");
	main().setAttribute("aria-busy", "true");
	try {
		let nodes;
		switch (parts[0]) {
		case "": nodes = await overviewPage(); break;
		case "clients": nodes = await clientsPage(params); break;
		case "client": nodes = await clientPage(parts[1]); break;
		case "collections": nodes = await collectionsPage(); break;
		case "collection": nodes = await collectionPage(parts[1]); break;
		case "software": nodes = await softwarePage(); break;
		case "advert": nodes = await advertPage(parts[1]); break;
		case "releases": nodes = await releasesPage(); break;
		case "rollout": nodes = await rolloutPage(parts[1]); break;
		case "hierarchy": nodes = await hierarchyPage(); break;
		case "audit": nodes = await auditPage(params); break;
		default: nodes = page(el("h1", {}, "Not found"), el("p", {}, link("#/", "Back to the overview")));
		}
		if (seq === renderSeq) {
			show(...nodes);
			const h1 = main().querySelector("h1");
			document.title = `${h1 ? h1.textContent : "steward"} · steward console`;
		}
	} catch (e) {
		if (e.status !== 401 && seq === renderSeq)
			show(errorBox(e));
	}
}

/* a message of the page before does not follow to the next */
window.addEventListener("hashchange", () => {
	document.getElementById("flash").replaceChildren();
	route();
});
window.addEventListener("DOMContentLoaded", route);
