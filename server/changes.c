/* changes: several management points on one PostgreSQL database.
 *
 * A check-in never reads the database, so every stewardd keeps the
 * clients' states, the software distribution definitions, collections and
 * facts, rollouts, maintenance windows and the pauses in memory.
 * When several share one database, a change made through one must reach
 * the others: the store announces it (pg_notify in the transaction that
 * wrote it, see store.h), and this thread, on a connection of its own,
 * applies each announcement by reading the changed rows again. Three
 * things bound how long another stewardd can be wrong:
 *
 * - an announcement arrives within the poll below (CHANGES_POLL_MS) of
 *   its COMMIT, and is applied at once;
 * - a lost connection is opened again (every CHANGES_RETRY_S while the
 *   server is away) and followed by a full re-read: what was announced
 *   meanwhile is lost with the connection;
 * - every changes_recheck_interval everything is read again in full,
 *   whatever was announced.
 *
 * docs/internals/management-points.md tells the whole story.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "site.h"

#define CHANGES_POLL_MS 500 /* also how soon a stop is noticed */
#define CHANGES_RETRY_S 2
/* An inventory's received time is the clock of the stewardd that took it:
 * a re-read looks that much further back than its last one. */
#define CHANGES_CLOCK_SLACK_S 60

struct changes {
	pthread_t th;
	bool running;
	char *target;
	struct site *s;
	uint64_t applied, rechecks, reconnects;
	int64_t facts_since; /* the re-read's next inventory_since */
	bool take_doc;	     /* not the site server: rollouts' documents are its */
};

/* One client read again: its state, block reason, session epoch and
 * sequence number (which only rise), and its collections when its state
 * moved or it is new here. */
static void client_reload(struct site *s, const char *id)
{
	struct store_client *c = malloc(sizeof(*c));
	bool changed = false;
	int rc;

	if (!c)
		return;
	rc = s->store->ops->client_get(s->store, id, c);
	if (rc == 0)
		rc = registry_update(s->reg, c, &changed);
	if (rc == 0 && changed) {
		site_facts_client_changed(s, c->id, 0);
		log_info("changes", "client_changed", "client=%s state=%s", c->id,
			 store_client_state_name(c->state));
	} else if (rc && rc != -STEWARD_ENOTFOUND) {
		log_warn("changes", "client_reload_failed", "client=%s error=\"%s\"", id,
			 steward_strerror(rc));
	}
	free(c);
}

/* A setting one of the modules holds: the pauses, the install rate, the
 * client-upgrade collection. */
static void setting_reload(struct site *s, const char *key)
{
	if (strncmp(key, "adverts_", 8) == 0)
		site_swdist_reload(s);
	else if (strncmp(key, "installs_", 9) == 0 || strcmp(key, "client_upgrade_collection") == 0)
		site_bootstrap_reload(s);
}

static void warn_failed(const char *what, const char *id, int rc)
{
	if (rc)
		log_warn("changes", "reload_failed", "what=%s%s%s error=\"%s\"", what,
			 id ? ":" : "", id ? id : "", steward_strerror(rc));
}

static void on_change(const char *kind, const char *id, void *ctx)
{
	struct changes *ch = ctx;
	struct site *s = ch->s;
	bool changed;

	ch->applied++;
	if (strcmp(kind, STORE_CHANGE_CLIENT) == 0 && id && proto_client_id_valid(id)) {
		client_reload(s, id);
	} else if (strcmp(kind, STORE_CHANGE_SWDIST) == 0) {
		warn_failed(kind, NULL, site_swdist_refresh(s));
	} else if (strcmp(kind, STORE_CHANGE_COLLECTIONS) == 0) {
		warn_failed(kind, NULL, site_collections_refresh(s, &changed));
	} else if (strcmp(kind, STORE_CHANGE_FACTS) == 0 && id && proto_client_id_valid(id)) {
		site_facts_client_changed(s, id, 0); /* it logs a failure */
	} else if (strcmp(kind, STORE_CHANGE_WINDOWS) == 0) {
		warn_failed(kind, NULL, site_windows_refresh(s, &changed));
	} else if (strcmp(kind, STORE_CHANGE_ROLLOUT) == 0 && id && site_rollout_name_ok(id)) {
		warn_failed(kind, id, site_rollouts_refresh(s, id, ch->take_doc));
	} else if (strcmp(kind, STORE_CHANGE_SETTING) == 0 && id) {
		setting_reload(s, id);
	}
	/* another kind, or an id that does not fit it: a newer stewardd's
	 * announcement this one has no memory for; nothing to do */
}

/* The clients whose inventory another management point stored since the
 * last re-read (inventory_since calls back under the store's lock; their
 * facts are read after it returns). */
struct since {
	char (*ids)[PROTO_CLIENT_ID_HEX + 1];
	size_t n, cap;
};

static int since_client(const char *id, void *ctx)
{
	struct since *sn = ctx;

	if (!proto_client_id_valid(id))
		return 0;
	if (sn->n == sn->cap) {
		size_t cap = sn->cap ? sn->cap * 2 : 64;
		void *n = realloc(sn->ids, cap * sizeof(*sn->ids));

		if (!n)
			return -STEWARD_ENOMEM;
		sn->ids = n;
		sn->cap = cap;
	}
	snprintf(sn->ids[sn->n++], sizeof(sn->ids[0]), "%s", id);
	return 0;
}

/* Everything but the clients read again: the collections, the facts of
 * inventories stored since the last time, windows, rollouts, pauses. */
static int recheck_rest(struct changes *ch)
{
	struct site *s = ch->s;
	struct since sn = {0};
	int64_t t0 = time_now_s();
	bool changed;
	int rc;

	rc = site_swdist_refresh(s);
	if (!rc)
		rc = site_collections_refresh(s, &changed);
	if (!rc)
		rc = s->store->ops->inventory_since(s->store, ch->facts_since, since_client, &sn);
	for (size_t i = 0; !rc && i < sn.n; i++)
		site_facts_client_changed(s, sn.ids[i], 0);
	free(sn.ids);
	if (!rc) {
		ch->facts_since = t0 - CHANGES_CLOCK_SLACK_S;
		rc = site_windows_refresh(s, &changed);
	}
	if (!rc)
		rc = site_rollouts_refresh_all(s, ch->take_doc);
	if (!rc) {
		site_swdist_reload(s);	  /* the pause of advertisements */
		site_bootstrap_reload(s); /* of installs, their rate */
	}
	return rc;
}

/* The clients a re-read found changed, for their collections: read after
 * client_list returns, which holds the store's lock while it walks. */
struct recheck {
	struct site *s;
	char (*ids)[PROTO_CLIENT_ID_HEX + 1];
	size_t changed, cap;
};

static int recheck_client(const struct store_client *c, void *ctx)
{
	struct recheck *r = ctx;
	bool changed = false;

	if (registry_update(r->s->reg, c, &changed) != 0 || !changed)
		return 0;
	if (r->changed == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void *n = realloc(r->ids, cap * sizeof(*r->ids));

		if (!n) { /* the main loop's queue instead (bounded, it logs drops) */
			site_facts_refresh_later(r->s, c->id);
			return 0;
		}
		r->ids = n;
		r->cap = cap;
	}
	memcpy(r->ids[r->changed++], c->id, sizeof(r->ids[0]));
	return 0;
}

/* Everything read again: after a reconnect and every
 * changes_recheck_interval. */
static void recheck(struct changes *ch, const char *why)
{
	struct recheck r = {.s = ch->s};
	int rc;

	ch->rechecks++;
	rc = ch->s->store->ops->client_list(ch->s->store, true, recheck_client, &r);
	/* collections now, without the store's lock (they read the store) */
	for (size_t i = 0; i < r.changed; i++)
		site_facts_client_changed(ch->s, r.ids[i], 0);
	free(r.ids);
	if (!rc)
		rc = recheck_rest(ch);
	if (rc)
		log_warn("changes", "recheck_failed", "why=%s error=\"%s\"", why,
			 steward_strerror(rc));
	else if (r.changed)
		log_info("changes", "recheck", "why=%s clients_changed=%zu", why, r.changed);
}

/* The loop's schedule (reconnects, re-reads) runs on the monotonic clock:
 * a wall clock stepped back (NTP, an administrator) must not hold a lost
 * listener away from the database for as long as the step. */
static int64_t mono_s(void)
{
	return time_mono_us() / 1000000;
}

static void *changes_main(void *arg)
{
	struct changes *ch = arg;
	struct site *s = ch->s;
	struct store_listener *l = NULL;
	int64_t next_recheck = mono_s() + s->cfg.changes_recheck_interval;
	int64_t next_try = 0;
	bool lost = false, first = true;

	while (!atomic_load(&s->stopping)) {
		int n;

		if (!l) {
			struct steward_err err = {.code = ""};

			if (mono_s() < next_try) {
				struct timespec ts = {0, CHANGES_POLL_MS * 1000000L};
				nanosleep(&ts, NULL);
				continue;
			}
			if (store_listener_open(ch->target, &l, &err)) {
				if (!lost)
					log_warn("changes", "listen_failed", "message=\"%s\"",
						 err.message);
				lost = true;
				next_try = mono_s() + CHANGES_RETRY_S;
				continue;
			}
			if (lost || first) {
				/* announcements made while away (or between the
				 * load at start and this LISTEN) are gone */
				if (!first) {
					ch->reconnects++;
					log_info("changes", "listening_again", "channel=%s",
						 STORE_CHANGES_CHANNEL);
				}
				recheck(ch, first ? "started" : "reconnected");
				next_recheck = mono_s() + s->cfg.changes_recheck_interval;
				lost = first = false;
			}
		}
		n = store_listener_wait(l, CHANGES_POLL_MS, on_change, ch);
		if (n < 0) {
			log_warn("changes", "listen_lost",
				 "remedy=\"it connects again by itself every %ds\"",
				 CHANGES_RETRY_S);
			store_listener_close(l);
			l = NULL;
			lost = true;
			next_try = mono_s() + CHANGES_RETRY_S;
			continue;
		}
		if (mono_s() >= next_recheck) {
			recheck(ch, "interval");
			next_recheck = mono_s() + s->cfg.changes_recheck_interval;
		}
	}
	store_listener_close(l);
	return NULL;
}

int site_changes_start(struct site *s, const char *target)
{
	struct changes *ch;

	if (!target ||
	    (strncmp(target, "postgresql://", 13) != 0 && strncmp(target, "postgres://", 11) != 0))
		return 0; /* SQLite: one stewardd alone uses the database */
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -STEWARD_ENOMEM;
	ch->s = s;
	ch->take_doc = !(s->cfg.role_mask & ROLE_SITE_SERVER);
	/* the first re-read (at the first LISTEN) takes what was stored since
	 * a little before the load at start */
	ch->facts_since = s->started - CHANGES_CLOCK_SLACK_S;
	ch->target = strdup(target);
	if (!ch->target) {
		free(ch);
		return -STEWARD_ENOMEM;
	}
	if (pthread_create(&ch->th, NULL, changes_main, ch)) {
		free(ch->target);
		free(ch);
		return -STEWARD_ENOMEM;
	}
	ch->running = true;
	s->changes = ch;
	log_info("changes", "listening", "channel=%s recheck_interval=%llds", STORE_CHANGES_CHANNEL,
		 (long long)s->cfg.changes_recheck_interval);
	return 0;
}

/* After s->stopping is set: the thread ends within CHANGES_POLL_MS (or a
 * connect's timeout). */
void site_changes_stop(struct site *s)
{
	struct changes *ch = s->changes;

	if (!ch)
		return;
	if (ch->running)
		pthread_join(ch->th, NULL);
	free(ch->target);
	free(ch);
	s->changes = NULL;
}
