// The web console in headless Chromium, driven by Playwright, against the
// real site that tests/system/test_console.sh started. Every step prints
// "ok N - what" or "not ok N - what" and the run stops at the first
// failure (exit 1). Screenshots of each page go to CONSOLE_SHOTS.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const env = name => {
	const v = process.env[name];
	if (!v) {
		console.error(`console.test: ${name} is not set (run it through tests/system/test_console.sh)`);
		process.exit(2);
	}
	return v;
};
const BASE = env("CONSOLE_URL");
const ADMIN_TOKEN = env("CONSOLE_ADMIN_TOKEN");
const READ_TOKEN = env("CONSOLE_READ_TOKEN");
const AGENT_ID = env("CONSOLE_AGENT_ID");
const AGENT_HOST = env("CONSOLE_AGENT_HOST");
const AGENT_RUN = env("CONSOLE_AGENT_RUN");
const SHOTS = env("CONSOLE_SHOTS");
const STEP_MS = 15000;

// the whole run is bounded, whatever hangs
const deadline = setTimeout(() => {
	console.log("not ok - the browser test did not finish within 240 s");
	process.exit(1);
}, 240000);

let n = 0;
async function step(what, fn) {
	n++;
	try {
		await fn();
		console.log(`ok ${n} - ${what}`);
	} catch (e) {
		console.log(`not ok ${n} - ${what}`);
		console.log(String(e && e.stack ? e.stack : e).split("\n").map(l => "# " + l).join("\n"));
		await shot(pageA, `failed-${n}`).catch(() => {});
		await browser.close().catch(() => {});
		process.exit(1);
	}
}

// the API as stewardctl calls it (bearer token), to check what the console did
async function apiAs(token, method, path, body) {
	const r = await fetch(BASE + "/api/v1" + path, {
		method,
		headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await r.text();
	return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function until(what, fn, ms = STEP_MS) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		try {
			if (await fn())
				return;
		} catch (e) {
			last = e;
		}
		await new Promise(r => setTimeout(r, 250));
	}
	throw new Error(`${what}: not within ${ms} ms${last ? ` (${last.message})` : ""}`);
}

async function shot(page, name, opts) {
	if (page)
		await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: !(opts && opts.viewportOnly) });
}

// the site's certificate is its own (the agent pins it; the test browser
// is told to accept it)
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const browser = await chromium.launch({
	executablePath: "/usr/bin/chromium",
	args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync"],
	timeout: 60000,
});
const outside = [];
async function newPage(opts) {
	const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, ...opts });
	ctx.setDefaultTimeout(STEP_MS);
	const page = await ctx.newPage();
	page.on("request", r => {
		if (!r.url().startsWith(BASE) && !r.url().startsWith("data:"))
			outside.push(r.url());
	});
	page.on("pageerror", e => console.log(`# page error: ${e.message}`));
	return page;
}
async function signIn(page, token) {
	await page.goto(BASE + "/console/");
	await page.fill("#token", token);
	await page.press("#token", "Enter");
	await page.waitForSelector("#whoami");
}
const rows = (page, table) => page.locator(`table[data-table="${table}"] tbody tr`);

let pageA = null;

await step("the console is served by stewardd at /console/ and asks for a token", async () => {
	pageA = await newPage();
	const r = await pageA.goto(BASE + "/console/");
	assert.equal(r.status(), 200);
	assert.match(r.headers()["content-security-policy"] || "", /default-src 'self'/);
	await pageA.waitForSelector("#token");
	await shot(pageA, "signin", { viewportOnly: true });
});

await step("a wrong token is refused with the reason", async () => {
	await pageA.fill("#token", "stw_" + "0".repeat(64));
	await pageA.click("#signin");
	await pageA.waitForSelector("#signin-error .error");
	assert.match(await pageA.textContent("#signin-error"), /token_invalid/);
});

await step("the keyboard alone signs in, and the first Tab offers to skip to the page", async () => {
	await pageA.goto(BASE + "/console/");
	await pageA.waitForSelector("#token");
	// the token field has the focus when the page opens: type, Enter
	assert.equal(await pageA.evaluate(() => document.activeElement.id), "token");
	await pageA.keyboard.type(ADMIN_TOKEN);
	await pageA.keyboard.press("Enter");
	await pageA.waitForSelector("#whoami");
	assert.equal(await pageA.textContent("#whoami"), "admin (admin)");
	// a page opened afresh: the first Tab offers to skip to the page
	await pageA.reload();
	await pageA.waitForSelector(".tiles");
	await pageA.keyboard.press("Tab");
	assert.equal(await pageA.evaluate(() => document.activeElement.className), "skip");
	await pageA.keyboard.press("Tab");
	assert.equal(await pageA.evaluate(() => document.activeElement.className), "brand");
	await pageA.keyboard.press("Tab");
	assert.equal(await pageA.evaluate(() => document.activeElement.textContent), "Overview");
	const cookies = await pageA.context().cookies();
	const c = cookies.find(x => x.name === "steward_session");
	assert.ok(c, "no steward_session cookie");
	assert.equal(c.httpOnly, true, "cookie not HttpOnly");
	assert.equal(c.sameSite, "Strict", "cookie not SameSite=Strict");
	assert.equal(c.secure, true, "cookie not Secure under TLS");
	assert.equal(await pageA.evaluate(() => document.cookie), "", "the page's script can read the cookie");
});

await step("the overview counts the clients and says what needs attention", async () => {
	await pageA.goto(BASE + "/console/#/");
	await pageA.waitForSelector(".tiles");
	const tiles = await pageA.locator(".tile").allTextContents();
	assert.ok(tiles.some(t => /^41\s*Clients/.test(t)), `tiles: ${tiles.join(" | ")}`);
	assert.match(await pageA.textContent("#attention"), /40 clients waiting for approval/);
	assert.ok(await pageA.locator("svg.chart rect.bar").count() >= 24, "no chart of check-ins per hour");
	await shot(pageA, "overview");
});

await step("clients are paged, searched and filtered by state", async () => {
	await pageA.click('nav a[href="#/clients"]');
	await pageA.waitForSelector('table[data-table="clients"]');
	assert.match(await pageA.textContent("#client-count"), /^1–41 of 41$/);
	await pageA.selectOption("#client-state", "pending");
	await pageA.click('form[role="search"] button[type="submit"]');
	await until("pending filter", async () => /of 40$/.test(await pageA.textContent("#client-count")));
	await pageA.fill("#client-search", "sim-0000003");
	await pageA.press("#client-search", "Enter");
	await until("search", async () => (await rows(pageA, "clients").count()) === 1);
	await shot(pageA, "clients");
});

await step("an operator approves a pending client from the list", async () => {
	const row = rows(pageA, "clients").first();
	const id = await row.getAttribute("data-key");
	await row.locator('[data-action="approve"]').click();
	await pageA.waitForSelector("#flash .ok");
	const r = await apiAs(ADMIN_TOKEN, "GET", `/clients/${id}`);
	assert.equal(r.body.state, "approved");
});

await step("a client's page shows its inventory, link and history", async () => {
	await pageA.fill("#client-search", AGENT_HOST);
	await pageA.selectOption("#client-state", "");
	await pageA.press("#client-search", "Enter");
	await until("agent row", async () => (await rows(pageA, "clients").count()) >= 1);
	await pageA.click(`table[data-table="clients"] a[href="#/client/${AGENT_ID}"]`);
	await pageA.waitForSelector("#inventory");
	const inv = await pageA.textContent("#inventory");
	assert.match(inv, /Debian GNU\/Linux/);
	assert.match(inv, /packages \(\d+/);
	assert.ok(await pageA.locator('table[data-table="history"] tbody tr').count() >= 1, "no inventory history");
	await shot(pageA, "client");
});

await step("an operator creates a collection and sees its members", async () => {
	await pageA.click('nav a[href="#/collections"]');
	await pageA.click("#collection-create");
	await pageA.fill("#dlg-name", "debian-hosts");
	await pageA.fill("#dlg-query", 'os.name = "Debian GNU/Linux"');
	await pageA.click('dialog button[type="submit"]');
	await pageA.waitForURL(/#\/collection\/debian-hosts$/);
	await until("members", async () => (await rows(pageA, "members").count()) === 1);
	assert.equal(await rows(pageA, "members").first().getAttribute("data-key"), AGENT_ID);
	const r = await apiAs(ADMIN_TOKEN, "GET", "/collections/debian-hosts");
	assert.equal(r.body.query, 'os.name = "Debian GNU/Linux"');
});

await step("the collection says why a client is, or is not, a member", async () => {
	await pageA.fill("#explain-client", AGENT_ID);
	await pageA.press("#explain-client", "Enter");
	await until("explain", async () => /member/.test(await pageA.textContent("#explain-result")));
	assert.match(await pageA.textContent("#explain-result"), /^member/);
	await shot(pageA, "collection");
	await pageA.click('nav a[href="#/collections"]');
	await pageA.waitForSelector('table[data-table="collections"]');
	await shot(pageA, "collections");
});

await step("an operator advertises a program and watches the agent run it", async () => {
	await pageA.click('nav a[href="#/software"]');
	await pageA.click("#advert-create");
	await pageA.fill("#dlg-name", "hello-console");
	await pageA.fill("#dlg-program", "hello-run");
	await pageA.fill("#dlg-collection", "debian-hosts");
	await pageA.click('dialog button[type="submit"]');
	await pageA.waitForURL(/#\/advert\/hello-console$/);
	await pageA.waitForSelector('table[data-table="advert-counts"], section.card p.empty');
	// the agent checks in, runs it and reports: the page follows by itself
	await promisify(execFile)(AGENT_RUN, [], { timeout: 60000 });
	await until("succeeded on the page", async () =>
		/succeeded/.test(await pageA.locator('table[data-table="advert-clients"]').textContent().catch(() => "")));
	assert.ok(await pageA.locator(".stack .seg-good").count() === 1, "no status chart");
	await shot(pageA, "advert");
	await pageA.click('nav a[href="#/software"]');
	await pageA.waitForSelector('table[data-table="adverts"]');
	await shot(pageA, "software");
});

await step("an admin starts a rollout and pauses it; the page follows", async () => {
	await pageA.click('nav a[href="#/releases"]');
	await pageA.waitForSelector('table[data-table="rollouts"]');
	await shot(pageA, "releases");
	await pageA.click('table[data-table="rollouts"] a[href="#/rollout/r2"]');
	await pageA.click('[data-action="start"]');
	await until("running", async () => {
		const r = await apiAs(ADMIN_TOKEN, "GET", "/rollouts/r2");
		return !["created"].includes(r.body.state);
	});
	await pageA.click('[data-action="pause"]');
	await until("paused", async () => (await apiAs(ADMIN_TOKEN, "GET", "/rollouts/r2")).body.state === "paused");
	await until("paused on the page", async () => /paused/.test(await pageA.textContent("#rollout-state")));
	assert.ok(await pageA.locator("ol.waves li .progress").count() === 2, "no progress bar per wave");
	await shot(pageA, "rollout");
});

await step("the overview shows the paused rollout; the hierarchy and the audit log, with the console's writes", async () => {
	// the overview again, now with an advertisement and a paused rollout
	await pageA.click('nav a[href="#/"]');
	await pageA.waitForSelector("#attention");
	assert.match(await pageA.textContent("#attention"), /rollout r2 is paused/);
	await shot(pageA, "overview");
	await pageA.click('nav a[href="#/hierarchy"]');
	await pageA.waitForSelector("#tree");
	await shot(pageA, "hierarchy");
	await pageA.click('nav a[href="#/audit"]');
	await pageA.waitForSelector('table[data-table="audit"]');
	const text = await pageA.locator('table[data-table="audit"]').textContent();
	assert.match(text, /POST \/api\/v1\/rollouts\/r2\/pause/);
	assert.match(text, /POST \/api\/v1\/collections/);
	await shot(pageA, "audit");
});

await step("a write without, or with a wrong, CSRF token is refused and changes nothing", async () => {
	const pending = (await apiAs(ADMIN_TOKEN, "GET", "/clients?state=pending&limit=1")).body.clients[0].id;
	const res = await pageA.evaluate(async id => {
		const r = await fetch(`/api/v1/clients/${id}/approve`, { method: "POST", credentials: "same-origin" });
		return { status: r.status, body: await r.json() };
	}, pending);
	assert.equal(res.status, 403);
	assert.equal(res.body.error.code, "csrf_missing");
	const res2 = await pageA.evaluate(async id => {
		const r = await fetch(`/api/v1/clients/${id}/approve`, { method: "POST", credentials: "same-origin", headers: { "X-Steward-CSRF": "wrong" } });
		return { status: r.status, body: await r.json() };
	}, pending);
	assert.equal(res2.status, 403);
	assert.equal(res2.body.error.code, "csrf_mismatch");
	assert.equal((await apiAs(ADMIN_TOKEN, "GET", `/clients/${pending}`)).body.state, "pending");
});

await step("on a phone the pages are readable (no sideways scrolling)", async () => {
	const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
	await signIn(phone, ADMIN_TOKEN);
	await phone.goto(BASE + "/console/#/clients");
	await phone.waitForSelector('table[data-table="clients"]');
	const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(wide <= 390, `page is ${wide}px wide`);
	await shot(phone, "phone-clients", { viewportOnly: true });
	await phone.context().close();
});

await step("a read-only admin sees no write buttons and the API refuses its writes", async () => {
	const ro = await newPage();
	await signIn(ro, READ_TOKEN);
	assert.equal(await ro.textContent("#whoami"), "viewer (read)");
	await ro.goto(BASE + "/console/#/clients?state=pending");
	await ro.waitForSelector('table[data-table="clients"]');
	assert.equal(await ro.locator("[data-action]").count(), 0, "write buttons shown to a reader");
	await ro.goto(BASE + "/console/#/collections");
	await ro.waitForSelector('table[data-table="collections"]');
	assert.equal(await ro.locator("#collection-create").count(), 0);
	await ro.goto(BASE + "/console/#/rollout/r2");
	await ro.waitForSelector("#rollout-state");
	assert.equal(await ro.locator("[data-action]").count(), 0, "rollout buttons shown to a reader");
	const res = await ro.evaluate(async () => {
		const s = await (await fetch("/api/v1/console/session")).json();
		const r = await fetch("/api/v1/rollouts/r2/resume", { method: "POST", headers: { "X-Steward-CSRF": s.csrf } });
		return { status: r.status, body: await r.json() };
	});
	assert.equal(res.status, 403);
	assert.equal(res.body.error.code, "role_forbidden");
	await ro.context().close();
});

await step("signing out ends the session: the old cookie is refused", async () => {
	const cookie = (await pageA.context().cookies()).find(x => x.name === "steward_session");
	await pageA.click("#signout");
	await pageA.waitForSelector("#token");
	const r = await fetch(BASE + "/api/v1/clients?limit=1", { headers: { Cookie: `steward_session=${cookie.value}` } });
	assert.equal(r.status, 401);
});

await step("nothing was loaded from outside the site", async () => {
	assert.deepEqual(outside, []);
});

clearTimeout(deadline);
await browser.close();
console.log(`console: all ${n} browser checks passed`);
