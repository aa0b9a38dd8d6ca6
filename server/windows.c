/* stewardd maintenance windows: when rollout steps may start on a client.
 *
 * A window belongs to a collection: "sat 22:00 for 6h in Europe/Berlin".
 * A client's windows are those of the collections it is a member of; it
 * has none, and is then always inside, when no collection of it has one.
 * The schedule arithmetic (time zones, DST, merging) is lib/core's
 * (include/steward/window.h); this file keeps the windows in memory and in
 * the database and answers, on a check-in, whether the client is inside one
 * and when the next one opens. Each zone file is read once, when a window
 * that names it is created or loaded.
 */
#include <stdlib.h>
#include <string.h>

#include "steward/window.h"
#include "collections.h"
#include "site.h"

#define WIN_MAX 256	      /* windows a site keeps */
#define WIN_PER_CLIENT 32     /* windows considered for one client */
#define WIN_LIST_HORIZON (8 * 86400)

struct win {
	struct store_window row;
	struct core_window w;
	struct core_tz *tz;
};

struct wins {
	pthread_rwlock_t lock;
	struct win v[WIN_MAX];
	size_t n;
};

/* Parse a stored or requested window; msg says what is wrong. */
static int win_make(const struct store_window *row, struct win *out, char *msg, size_t msgsz)
{
	char dur[32];

	memset(out, 0, sizeof(*out));
	out->row = *row;
	snprintf(dur, sizeof(dur), "%lldm", (long long)(row->duration / 60));
	if (row->duration % 60 || core_window_parse(row->weekly, dur, &out->w, msg, msgsz) != 0) {
		if (row->duration % 60)
			snprintf(msg, msgsz, "duration: whole minutes only");
		return -1;
	}
	if (!row->tz[0] || strcmp(row->tz, "UTC") == 0) {
		out->tz = NULL;
		return 0;
	}
	if (!core_tz_name_valid(row->tz)) {
		snprintf(msg, msgsz, "tz: '%.64s' is not a time zone name such as Europe/Berlin",
			 row->tz);
		return -1;
	}
	if (tz_load(row->tz, &out->tz, msg, msgsz) != 0) {
		size_t n = strlen(msg);

		snprintf(msg + n, msgsz - n, "; ls /usr/share/zoneinfo shows the zones");
		return -1;
	}
	return 0;
}

static int load_one(const struct store_window *row, void *ctx)
{
	struct wins *ws = ctx;
	char msg[256];

	if (ws->n == WIN_MAX)
		return 0;
	if (win_make(row, &ws->v[ws->n], msg, sizeof(msg)) != 0) {
		log_warn("windows", "window_unusable", "window=%s msg=\"%s\"", row->name, msg);
		return 0;
	}
	ws->n++;
	return 0;
}

int site_windows_load(struct site *s)
{
	struct wins *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return -STEWARD_ENOMEM;
	pthread_rwlock_init(&ws->lock, NULL);
	s->windows = ws;
	return s->store->ops->window_list(s->store, load_one, ws);
}

/* The same rows as those held, in the same order? */
static bool wins_same(const struct wins *a, const struct wins *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct store_window *x = &a->v[i].row, *y = &b->v[i].row;

		if (strcmp(x->name, y->name) || strcmp(x->collection, y->collection) ||
		    strcmp(x->weekly, y->weekly) || x->duration != y->duration ||
		    strcmp(x->tz, y->tz) || x->created != y->created)
			return false;
	}
	return true;
}

static void wins_clear(struct wins *ws)
{
	for (size_t i = 0; i < ws->n; i++)
		core_tz_free(ws->v[i].tz);
	ws->n = 0;
}

int site_windows_refresh(struct site *s, bool *changed)
{
	struct wins *ws = s->windows, *fresh;
	int rc;

	*changed = false;
	if (!ws)
		return 0;
	fresh = calloc(1, sizeof(*fresh)); /* WIN_MAX windows: not on a stack */
	if (!fresh)
		return -STEWARD_ENOMEM;
	rc = s->store->ops->window_list(s->store, load_one, fresh);
	if (!rc) {
		pthread_rwlock_wrlock(&ws->lock);
		if (!wins_same(ws, fresh)) {
			size_t n = ws->n > fresh->n ? ws->n : fresh->n, k = ws->n;

			/* the lock stays ws's; only the windows change places */
			for (size_t i = 0; i < n; i++) {
				struct win t = ws->v[i];

				ws->v[i] = fresh->v[i];
				fresh->v[i] = t;
			}
			ws->n = fresh->n;
			fresh->n = k;
			*changed = true;
		}
		pthread_rwlock_unlock(&ws->lock);
	}
	if (*changed)
		log_info("windows", "reloaded", "windows_before=%zu", fresh->n);
	wins_clear(fresh); /* the old windows, or the unused copy */
	free(fresh);
	return rc;
}

void site_windows_free(struct site *s)
{
	struct wins *ws = s->windows;

	if (!ws)
		return;
	for (size_t i = 0; i < ws->n; i++)
		core_tz_free(ws->v[i].tz);
	pthread_rwlock_destroy(&ws->lock);
	free(ws);
	s->windows = NULL;
}

/* The windows of the client in slot; caller holds ws->lock and the collections. */
static size_t client_windows(struct wins *ws, struct coll_engine *e, uint32_t slot,
			     struct core_window_in *in)
{
	size_t n = 0;

	for (size_t i = 0; i < ws->n && n < WIN_PER_CLIENT; i++)
		if (coll_is_member(e, ws->v[i].row.collection, slot)) {
			in[n].w = &ws->v[i].w;
			in[n++].tz = ws->v[i].tz;
		}
	return n;
}

void site_rollout_window_gate(struct site *s, struct coll_engine *e, uint32_t slot, int64_t now,
			      int64_t since, struct ro_window_gate *g)
{
	struct wins *ws = s->windows;
	struct core_window_in in[WIN_PER_CLIENT];
	int64_t open, close;
	size_t n;

	g->inside = true;
	g->missed = false;
	g->next_open = g->next_close = 0;
	if (!ws || !ws->n)
		return;
	pthread_rwlock_rdlock(&ws->lock);
	n = client_windows(ws, e, slot, in);
	if (n) {
		g->inside = core_windows_inside(in, n, now);
		g->missed = since > 0 && core_windows_missed(in, n, since, now);
		if (core_windows_next(in, n, now, &open, &close)) {
			g->next_open = open > now ? open : now;
			g->next_close = close;
		}
	}
	pthread_rwlock_unlock(&ws->lock);
}

json_t *site_windows_for_client(struct site *s, struct coll_engine *e, uint32_t slot, int64_t now)
{
	struct wins *ws = s->windows;
	struct core_window_in in[WIN_PER_CLIENT];
	int64_t iv[16][2];
	json_t *a = NULL;
	size_t n, k;

	if (!ws || !ws->n)
		return NULL;
	pthread_rwlock_rdlock(&ws->lock);
	n = client_windows(ws, e, slot, in);
	if (n) {
		k = core_windows_list(in, n, now, WIN_LIST_HORIZON, iv, 16);
		a = json_array();
		for (size_t i = 0; a && i < k; i++)
			json_array_append_new(a, json_pack("[I,I]", (json_int_t)iv[i][0],
							   (json_int_t)iv[i][1]));
	}
	pthread_rwlock_unlock(&ws->lock);
	return a;
}

/* ---- the administrator's API ---------------------------------------------------------- */

static json_t *win_json(const struct win *v, int64_t now)
{
	char dur[32], weekly[CORE_WINDOW_SPEC_MAX + 1];
	struct core_window_in in = {&v->w, v->tz};
	int64_t open = 0, close = 0;
	json_t *o;

	core_window_format_weekly(&v->w, weekly, sizeof(weekly));
	core_window_format_duration(&v->w, dur, sizeof(dur));
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "name", v->row.name, "collection",
		      v->row.collection, "weekly", weekly, "duration", dur, "duration_s",
		      (json_int_t)v->row.duration, "tz", v->row.tz[0] ? v->row.tz : "UTC",
		      "created_by", v->row.created_by);
	if (o && core_windows_next(&in, 1, now, &open, &close)) {
		json_object_set_new(o, "open_now", json_boolean(open <= now));
		json_object_set_new(o, "next_open", time_json(open));
		json_object_set_new(o, "next_close", time_json(close));
	}
	if (o)
		json_object_set_new(o, "created", time_json(v->row.created));
	return o;
}

enum http_result site_h_windows_create(struct http_req *req, void *app)
{
	struct site *s = app;
	struct wins *ws = s->windows;
	json_t *body = admin_body(req), *jd;
	struct store_window row;
	struct win v;
	struct facts *f;
	struct coll_engine *e;
	const char *name, *coll, *weekly, *tz;
	char msg[256];
	bool known;
	int rc;

	if (!body)
		return HTTP_DONE;
	memset(&row, 0, sizeof(row));
	memset(&v, 0, sizeof(v));
	name = json_string_value(json_object_get(body, "name"));
	coll = json_string_value(json_object_get(body, "collection"));
	weekly = json_string_value(json_object_get(body, "weekly"));
	tz = json_string_value(json_object_get(body, "tz"));
	jd = json_object_get(body, "duration");
	if (!site_rollout_name_ok(name)) {
		reply_error(req, 400, "bad_request", "letters, digits, '.', '_' and '-', 1 to 64",
			    "field 'name' must be a window name");
		goto out;
	}
	if (!coll || !*coll || strlen(coll) > STORE_ROLLOUT_NAME_MAX) {
		reply_error(req, 400, "bad_request", "name the collection the window is for",
			    "field 'collection' must be a collection name");
		goto out;
	}
	if (!weekly || strlen(weekly) > STORE_WINDOW_SPEC_MAX) {
		reply_error(req, 400, "bad_window", "e.g. --weekly \"sat 22:00\" or \"mon-fri 01:00\"",
			    "field 'weekly' must be DAYS HH:MM of at most %d characters",
			    STORE_WINDOW_SPEC_MAX);
		goto out;
	}
	if (!json_is_integer(jd) || json_integer_value(jd) < 60 ||
	    json_integer_value(jd) > CORE_WINDOW_DURATION_MAX) {
		reply_error(req, 400, "bad_window", "e.g. --duration 6h (1 minute to 7 days)",
			    "field 'duration' must be from 60 to %lld seconds (a window of zero length "
			    "never opens)",
			    (long long)CORE_WINDOW_DURATION_MAX);
		goto out;
	}
	if (tz && strlen(tz) > STORE_WINDOW_TZ_MAX) {
		reply_error(req, 400, "bad_window", "e.g. --tz Europe/Berlin",
			    "field 'tz' is longer than %d characters", STORE_WINDOW_TZ_MAX);
		goto out;
	}
	snprintf(row.name, sizeof(row.name), "%s", name);
	snprintf(row.weekly, sizeof(row.weekly), "%s", weekly);
	snprintf(row.tz, sizeof(row.tz), "%s", tz ? tz : "");
	row.duration = json_integer_value(jd);
	row.created = time_now_s();
	snprintf(row.created_by, sizeof(row.created_by), "%s", site_admin_who(req));
	site_colls_lock(s, &f, &e);
	known = coll_exists(e, coll);
	if (known)
		snprintf(row.collection, sizeof(row.collection), "%s", coll_name(e, coll));
	site_colls_unlock(s);
	if (!known) {
		reply_error(req, 404, "collection_not_found",
			    "stewardctl collections list shows the collections",
			    "field 'collection': no collection '%.64s'", coll);
		goto out;
	}
	if (win_make(&row, &v, msg, sizeof(msg)) != 0) {
		reply_error(req, 400, "bad_window",
			    "weekly \"sat 22:00\", duration 6h, tz a zone such as Europe/Berlin",
			    "%s", msg);
		goto out;
	}
	pthread_rwlock_wrlock(&ws->lock);
	rc = ws->n == WIN_MAX ? -STEWARD_ETOOBIG : s->store->ops->window_insert(s->store, &row);
	if (!rc) {
		ws->v[ws->n++] = v;
		v.tz = NULL;
	}
	pthread_rwlock_unlock(&ws->lock);
	if (rc == -STEWARD_EEXIST) {
		reply_error(req, 409, "window_exists", "choose another name, or delete that window first",
			    "a window named %s exists", row.name);
		goto out;
	}
	if (rc == -STEWARD_ETOOBIG) {
		reply_error(req, 409, "too_many_windows", "delete windows no longer needed",
			    "this site keeps at most %d windows", WIN_MAX);
		goto out;
	}
	if (rc) {
		reply_store_error(req, rc);
		goto out;
	}
	log_info("windows", "created", "window=%s collection=%s weekly=\"%s\" duration=%lld tz=%s",
		 row.name, row.collection, row.weekly, (long long)row.duration,
		 row.tz[0] ? row.tz : "UTC");
	pthread_rwlock_rdlock(&ws->lock);
	{
		json_t *o = win_json(&ws->v[ws->n - 1], time_now_s());

		pthread_rwlock_unlock(&ws->lock);
		reply_json_obj(req, 201, o);
	}
out:
	core_tz_free(v.tz);
	json_decref(body);
	return HTTP_DONE;
}

json_t *site_windows_json(struct site *s)
{
	struct wins *ws = s->windows;
	json_t *a = json_array();
	int64_t now = time_now_s();

	if (!ws || !a)
		return a;
	pthread_rwlock_rdlock(&ws->lock);
	for (size_t i = 0; a && i < ws->n; i++)
		json_array_append_new(a, win_json(&ws->v[i], now));
	pthread_rwlock_unlock(&ws->lock);
	return a;
}

enum http_result site_h_windows_list(struct http_req *req, void *app)
{
	json_t *a = site_windows_json(app);

	reply_json_obj(req, 200, json_pack("{s:o}", "windows", a ? a : json_array()));
	return HTTP_DONE;
}

enum http_result site_h_windows_delete(struct http_req *req, void *app)
{
	struct site *s = app;
	struct wins *ws = s->windows;
	const char *name = http_req_param(req, 0);
	int rc;

	pthread_rwlock_wrlock(&ws->lock);
	rc = s->store->ops->window_delete(s->store, name ? name : "");
	for (size_t i = 0; !rc && i < ws->n; i++)
		if (strcmp(ws->v[i].row.name, name) == 0) {
			core_tz_free(ws->v[i].tz);
			memmove(&ws->v[i], &ws->v[i + 1], (ws->n - i - 1) * sizeof(ws->v[0]));
			ws->n--;
			break;
		}
	pthread_rwlock_unlock(&ws->lock);
	if (rc == -STEWARD_ENOTFOUND) {
		reply_error(req, 404, "window_not_found", "stewardctl windows list shows the windows",
			    "no window '%.64s'", name ? name : "");
		return HTTP_DONE;
	}
	if (rc) {
		reply_store_error(req, rc);
		return HTTP_DONE;
	}
	log_info("windows", "deleted", "window=%s", name);
	reply_json_obj(req, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
	return HTTP_DONE;
}
