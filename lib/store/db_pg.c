/* store/db_pg: the PostgreSQL driver of store/db, on libpq.
 *
 * Each statement is prepared on the server once per connection (a named
 * prepared statement, made on its first step) and run with
 * PQexecPrepared: parameters travel as text, blobs as binary; results come
 * back as text, bytea decoded from its hex form. A connection that breaks
 * is reset once on the next call; statements are prepared again on it.
 * Every wait is bounded: connect_timeout and statement_timeout come with
 * the connection unless the URL sets them, and each call waits for its
 * answer at most PG_ANSWER_MS (await): statement_timeout is the server's
 * to enforce, and a server that stalls (frozen, or behind a link that
 * drops everything while the peer's kernel still acknowledges) would
 * never send even that error.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "db_drv.h"

#define PG_BYTEA_OID  17
#define PG_BOOL_OID   16
#define PG_INT8_OID   20
#define PG_TEXT_OID   25
#define PG_MAX_PARAMS 64
/* The longest a call waits for the server's answer: above the
 * statement_timeout every connection gets (60 s), so that the server's own
 * bound, with its clear error, fires first. */
#define PG_ANSWER_MS 90000

/* Statements prepared on the server stay there, keyed by their text: the
 * store prepares the same few hundred texts again and again, and each
 * prepare would otherwise cost a round trip and a parse. */
#define PG_CACHE_SLOTS 1024 /* open addressing; at most half used */

struct pg_cached {
	char *sql; /* as given to db_prepare */
	char name[16];
	unsigned gen; /* the connection generation it was prepared in; 0: not yet */
	int nparams;
};

struct pg_db {
	struct db base;
	PGconn *conn;
	unsigned gen;	    /* bumped at every reset: statements prepare again */
	unsigned next_name; /* s1, s2, ...: names of prepared statements */
	int64_t changes;
	char err[512];
	int answer_ms; /* PG_ANSWER_MS; tests shorten it (db_answer_bound) */
	bool stalled;  /* the last call had no answer in time: the connection was closed */
	struct pg_cached cache[PG_CACHE_SLOTS];
	unsigned cached;
};

struct pg_stmt {
	struct db_stmt base;
	char name[16];
	char *sql;		/* rewritten with $N */
	unsigned prepared_gen;	/* 0: not yet prepared on this connection */
	struct pg_cached *slot; /* its entry in the cache, NULL when not cached */
	int nparams;
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	char ints[PG_MAX_PARAMS][24];
	char *copies[PG_MAX_PARAMS]; /* text bound with a length, made a C string */
	char *names[PG_MAX_PARAMS];  /* as first written ("?2", ":name"); NULL: unused */
	PGresult *res;
	int row; /* the current row; -1 before the first */
	int ncols;
	uint8_t **blobs; /* decoded bytea per column, freed at reset */
	size_t *blob_len;
};

#define PGDB(d) ((struct pg_db *)(d))
#define PGS(q)	((struct pg_stmt *)(q))

static void keep_error(struct pg_db *d, const char *what)
{
	const char *m = what ? what : PQerrorMessage(d->conn);
	size_t n;

	snprintf(d->err, sizeof(d->err), "%s", m && *m ? m : "unknown error");
	n = strlen(d->err);
	while (n && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
		d->err[--n] = '\0';
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_open(const char *target, struct db **out, struct steward_err *err)
{
	struct pg_db *d = calloc(1, sizeof(*d));
	/* later entries override earlier ones: the URL's own settings win */
	const char *keys[] = {"connect_timeout",  "application_name",		"options",
			      "keepalives",	  "keepalives_idle",		"keepalives_interval",
			      "keepalives_count", "tcp_user_timeout",		"dbname",
			      NULL};
	const char *vals[] = {"10", "stewardd", "-c statement_timeout=60000",
			      "1",  "30",	"10",
			      "3",  "60000",	target,
			      NULL};

	if (!d)
		return -STEWARD_ENOMEM;
	d->base.drv = &db_pg_driver;
	db_set_target(&d->base, target);
	d->gen = 1;
	d->answer_ms = PG_ANSWER_MS;
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
		keep_error(d, d->conn ? NULL : "out of memory");
		steward_err_set(
		    err, STEWARD_ESTORE, "store_open_failed",
		    "check that the PostgreSQL server is running, that the URL's host, port, "
		    "user and database are right and that this user may connect",
		    "cannot connect to %s: %s", d->base.target, d->err);
		PQfinish(d->conn);
		free(d);
		return -STEWARD_ESTORE;
	}
	PQsetNoticeProcessor(d->conn, ignore_notice, NULL);
	*out = &d->base;
	return 0;
}

static void pg_close(struct db *db)
{
	struct pg_db *d = PGDB(db);

	for (unsigned i = 0; i < PG_CACHE_SLOTS; i++)
		free(d->cache[i].sql);
	PQfinish(d->conn);
	free(db);
}

static uint32_t text_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The cache entry for sql: the one holding it, else a free one to take
 * (NULL when the cache is half full: the statement is then not kept). */
static struct pg_cached *cache_slot(struct pg_db *d, const char *sql)
{
	uint32_t i = text_hash(sql) & (PG_CACHE_SLOTS - 1);

	for (;; i = (i + 1) & (PG_CACHE_SLOTS - 1)) {
		if (!d->cache[i].sql)
			return d->cached < PG_CACHE_SLOTS / 2 ? &d->cache[i] : NULL;
		if (strcmp(d->cache[i].sql, sql) == 0)
			return &d->cache[i];
	}
}

/* After a failed call: reset a broken connection once. */
/* Connect again; the statements are prepared again on the new session. */
static void reconnect(struct pg_db *d)
{
	PQreset(d->conn);
	d->gen++;
}

static void log_unavailable(struct pg_db *d)
{
	log_error("store", "database_unavailable", "target=\"%s\" error=\"%s\"", d->base.target,
		  d->err);
}

/* Before a call: a connection the server ended while it sat idle (a
 * restart, an administrator's pg_terminate_backend) is found now, by
 * reading what waits on its socket, and made again, instead of failing
 * the call. Not inside a transaction: that must fail with its statement.
 * A connection that cannot be made is logged and kept in d->err. */
static bool connection_ok(struct pg_db *d)
{
	if (PQstatus(d->conn) == CONNECTION_OK &&
	    (PQtransactionStatus(d->conn) != PQTRANS_IDLE || PQconsumeInput(d->conn)) &&
	    PQstatus(d->conn) == CONNECTION_OK)
		return true;
	reconnect(d);
	if (PQstatus(d->conn) == CONNECTION_OK)
		return true;
	keep_error(d, NULL);
	log_unavailable(d);
	return false;
}

/* The answer to what was just sent (sent: what PQsend* returned): the last
 * of its results, as PQexec gives it, or NULL (the reason in
 * PQerrorMessage). A server that says nothing for d->answer_ms has its
 * connection shut: libpq then finds it closed, the call fails as on a lost
 * server, and the next call connects again (result_of). */
static PGresult *await(struct pg_db *d, int sent)
{
	PGresult *r, *last = NULL;
	int64_t deadline = time_mono_us() + (int64_t)d->answer_ms * 1000;

	if (!sent) /* d->stalled stays: a connection shut by the last wait cannot send */
		return NULL;
	d->stalled = false;
	for (;;) {
		while (PQisBusy(d->conn)) {
			int64_t left = deadline - time_mono_us();
			struct pollfd p = {.fd = PQsocket(d->conn), .events = POLLIN};

			if (left <= 0) {
				/* stalled: libpq reads the shut socket's end next */
				d->stalled = true;
				shutdown(p.fd, SHUT_RDWR);
			} else if (poll(&p, 1, (int)((left + 999) / 1000)) == 0) {
				continue; /* the deadline, looked at again */
			}
			if (!PQconsumeInput(d->conn))
				break; /* closed: PQgetResult says so */
		}
		r = PQgetResult(d->conn);
		if (!r)
			break;
		PQclear(last);
		last = r;
		if (PQstatus(d->conn) == CONNECTION_BAD)
			break;
	}
	return last;
}

static int result_of(struct pg_db *d, PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	const char *state;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		const char *n = r ? PQcmdTuples(r) : "";
		d->changes = n && *n ? strtoll(n, NULL, 10) : 0;
		return DB_DONE;
	}
	if (d->stalled) {
		snprintf(d->err, sizeof(d->err),
			 "no answer from the server within %d s (a stalled server or link); "
			 "the connection was closed",
			 d->answer_ms / 1000);
		r = NULL; /* what libpq says of the closed socket is beside the point */
	} else {
		keep_error(d, r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : NULL);
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (state && strcmp(state, "23505") == 0)
		return DB_DUPLICATE;
	if (state && strncmp(state, "23", 2) == 0)
		return DB_CONSTRAINT;
	/* connection exceptions, the server shutting down, too many clients */
	if (!state || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strcmp(state, "53300") == 0 || PQstatus(d->conn) != CONNECTION_OK) {
		log_unavailable(d);
		if (PQstatus(d->conn) != CONNECTION_OK)
			reconnect(d);
		return DB_UNAVAILABLE;
	}
	log_error("store", "sql_failed", "sqlstate=%s error=\"%s\"", state, d->err);
	return DB_ERROR;
}

static int pg_exec(struct db *db, const char *sql)
{
	struct pg_db *d = PGDB(db);
	PGresult *r;
	int res;

	if (!connection_ok(d))
		return -STEWARD_ESTORE;
	r = await(d, PQsendQuery(d->conn, sql));
	res = result_of(d, r);
	PQclear(r);
	return db_rc(res);
}

/* SQLite's JSON functions by PostgreSQL's names: json_object and
 * json_array build (json_build_*), json(x) marks text as JSON
 * (steward_json, pg_schema.c). Only calls are renamed, outside quotes;
 * json_extract, json_each and json_group_array the schema provides under
 * their own names. out gets at most outsz bytes; -1 when it does not fit. */
static int pg_dialect(const char *in, char *out, size_t outsz)
{
	static const struct {
		const char *from, *to;
	} names[] = {
	    {"json_object(", "json_build_object("},
	    {"json_array(", "json_build_array("},
	    {"json(", "steward_json("},
	};
	size_t o = 0;

	for (const char *p = in; *p;) {
		if (*p == '\'' || *p == '"') {
			char quote = *p;
			const char *end = strchr(p + 1, quote);
			size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
			if (o + n >= outsz)
				return -1;
			memcpy(out + o, p, n);
			o += n;
			p += n;
			continue;
		}
		bool renamed = false;
		if (p == in || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) {
			for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
				size_t fl = strlen(names[k].from), tl = strlen(names[k].to);
				if (strncmp(p, names[k].from, fl) == 0) {
					if (o + tl >= outsz)
						return -1;
					memcpy(out + o, names[k].to, tl);
					o += tl;
					p += fl;
					renamed = true;
					break;
				}
			}
		}
		if (renamed)
			continue;
		if (o + 1 >= outsz)
			return -1;
		out[o++] = *p++;
	}
	out[o] = '\0';
	return 0;
}

static struct db_stmt *pg_prepare(struct db *db, const char *sql)
{
	struct pg_db *d = PGDB(db);
	struct pg_stmt *q = calloc(1, sizeof(*q));
	size_t cap = strlen(sql) * 2 + 64;
	const char *names[PG_MAX_PARAMS] = {0};
	size_t name_len[PG_MAX_PARAMS] = {0};
	int n;

	if (!q || !(q->sql = malloc(cap))) {
		free(q);
		return NULL;
	}
	q->base.db = db;
	q->row = -1;
	n = db_rewrite_params(sql, q->sql, cap, names, name_len, PG_MAX_PARAMS);
	if (n >= 0 && strstr(q->sql, "json")) {
		char *renamed = malloc(cap * 3);
		if (!renamed || pg_dialect(q->sql, renamed, cap * 3)) {
			free(renamed);
			n = -1;
		} else {
			free(q->sql);
			q->sql = renamed;
		}
	}
	if (n < 0 || n > PG_MAX_PARAMS) {
		log_error("store", "sql_prepare_failed", "error=\"bad parameters\" sql=\"%.120s\"",
			  sql);
		free(q->sql);
		free(q);
		return NULL;
	}
	q->nparams = n;
	for (int i = 0; i < n; i++)
		if (names[i])
			q->names[i] = strndup(names[i], name_len[i]);
	q->slot = cache_slot(d, sql);
	if (q->slot && q->slot->sql) {
		snprintf(q->name, sizeof(q->name), "%s", q->slot->name);
		q->prepared_gen = q->slot->gen;
		return &q->base;
	}
	snprintf(q->name, sizeof(q->name), "s%u", ++d->next_name);
	if (q->slot) {
		q->slot->sql = strdup(sql);
		if (!q->slot->sql) {
			q->slot = NULL;
		} else {
			snprintf(q->slot->name, sizeof(q->slot->name), "%s", q->name);
			q->slot->gen = 0;
			d->cached++;
		}
	}
	return &q->base;
}

static void drop_result(struct pg_stmt *q)
{
	if (q->blobs) {
		for (int i = 0; i < q->ncols; i++)
			free(q->blobs[i]);
		free(q->blobs);
		free(q->blob_len);
		q->blobs = NULL;
		q->blob_len = NULL;
	}
	PQclear(q->res);
	q->res = NULL;
	q->row = -1;
	q->ncols = 0;
}

static void pg_finalize(struct db_stmt *st)
{
	struct pg_stmt *q = PGS(st);
	struct pg_db *d = PGDB(st->db);
	char sql[48];

	drop_result(q);
	if (!q->slot && q->prepared_gen == d->gen && PQstatus(d->conn) == CONNECTION_OK) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", q->name);
		PQclear(await(d, PQsendQuery(d->conn, sql)));
	}
	for (int i = 0; i < q->nparams; i++) {
		free(q->names[i]);
		free(q->copies[i]);
	}
	free(q->sql);
	free(q);
}

static void pg_reset(struct db_stmt *q)
{
	drop_result(PGS(q));
}

static void pg_clear(struct db_stmt *st)
{
	struct pg_stmt *q = PGS(st);

	for (int i = 0; i < q->nparams; i++) {
		q->values[i] = NULL;
		q->lengths[i] = 0;
		q->formats[i] = 0;
	}
}

static int pg_param_index(struct db_stmt *st, const char *name)
{
	struct pg_stmt *q = PGS(st);

	for (int i = 0; i < q->nparams; i++)
		if (q->names[i] && strcmp(q->names[i], name) == 0)
			return i + 1;
	return 0;
}

static bool param_ok(struct pg_stmt *q, int i)
{
	if (i >= 1 && i <= q->nparams)
		return true;
	log_error("store", "sql_bind_failed", "statement=%s parameter=%d of %d", q->name, i,
		  q->nparams);
	return false;
}

static void pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	struct pg_stmt *q = PGS(st);

	if (!param_ok(q, i))
		return;
	snprintf(q->ints[i - 1], sizeof(q->ints[i - 1]), "%lld", (long long)v);
	q->values[i - 1] = q->ints[i - 1];
	q->lengths[i - 1] = 0;
	q->formats[i - 1] = 0;
}

static void pg_bind_text(struct db_stmt *st, int i, const char *v)
{
	struct pg_stmt *q = PGS(st);

	if (!param_ok(q, i))
		return;
	q->values[i - 1] = v;
	q->lengths[i - 1] = 0;
	q->formats[i - 1] = 0;
}

static void pg_bind_textn(struct db_stmt *st, int i, const char *v, size_t n)
{
	struct pg_stmt *q = PGS(st);

	if (!param_ok(q, i))
		return;
	free(q->copies[i - 1]);
	q->copies[i - 1] = strndup(v, n);
	q->values[i - 1] = q->copies[i - 1];
	q->lengths[i - 1] = 0;
	q->formats[i - 1] = 0;
}

static void pg_bind_blob(struct db_stmt *st, int i, const void *v, size_t n)
{
	struct pg_stmt *q = PGS(st);

	if (!param_ok(q, i))
		return;
	q->values[i - 1] = v ? (const char *)v : "";
	q->lengths[i - 1] = (int)n;
	q->formats[i - 1] = 1;
}

static void pg_bind_null(struct db_stmt *st, int i)
{
	struct pg_stmt *q = PGS(st);

	if (!param_ok(q, i))
		return;
	q->values[i - 1] = NULL;
	q->lengths[i - 1] = 0;
	q->formats[i - 1] = 0;
}

static int prepare_on_server(struct pg_db *d, struct pg_stmt *q)
{
	PGresult *r;
	Oid types[PG_MAX_PARAMS];
	bool in_tx;
	int res;

	if (q->slot && q->slot->gen == d->gen)
		q->prepared_gen = d->gen; /* another statement of the same text did */
	if (q->prepared_gen == d->gen)
		return DB_DONE;
	/* a number the text never uses (?1 and ?3 without ?2) is text, so the
	 * server need not guess a type for it; the others it infers from the
	 * text, or, where the text does not say (?1 IS NULL) or says two
	 * things (?2 = 0 and a bigint column), from what was bound: bigint,
	 * bytea or text */
	for (int i = 0; i < q->nparams; i++)
		types[i] = q->names[i] ? 0 : PG_TEXT_OID;
	/* in a transaction a failed PREPARE would abort it (SQLite's would
	 * not): a savepoint keeps the transaction usable */
	in_tx = PQtransactionStatus(d->conn) == PQTRANS_INTRANS;
	if (in_tx)
		PQclear(await(d, PQsendQuery(d->conn, "SAVEPOINT steward_prepare")));
	r = await(d, PQsendPrepare(d->conn, q->name, q->sql, q->nparams, types));
	if (r && PQresultStatus(r) == PGRES_FATAL_ERROR &&
	    (strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "", "42P18") == 0 ||
	     strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "", "42P08") == 0)) {
		PQclear(r);
		if (in_tx)
			PQclear(await(d, PQsendQuery(d->conn, "ROLLBACK TO SAVEPOINT steward_prepare")));
		for (int i = 0; i < q->nparams; i++)
			types[i] = !q->values[i]		? PG_TEXT_OID
				   : q->formats[i]		? PG_BYTEA_OID
				   : q->values[i] == q->ints[i] ? PG_INT8_OID
								: PG_TEXT_OID;
		r = await(d, PQsendPrepare(d->conn, q->name, q->sql, q->nparams, types));
	}
	res = result_of(d, r);
	PQclear(r);
	if (in_tx && res != DB_UNAVAILABLE)
		PQclear(await(d, PQsendQuery(d->conn, res == DB_DONE
							    ? "RELEASE SAVEPOINT steward_prepare"
							    : "ROLLBACK TO SAVEPOINT steward_prepare")));
	if (res != DB_DONE) {
		log_error("store", "sql_prepare_failed", "error=\"%s\" sql=\"%.160s\"", d->err,
			  q->sql);
		return res;
	}
	q->prepared_gen = d->gen;
	if (q->slot)
		q->slot->gen = d->gen;
	return DB_DONE;
}

static int pg_step(struct db_stmt *st)
{
	struct pg_stmt *q = PGS(st);
	struct pg_db *d = PGDB(st->db);
	int res;

	if (!q->res) {
		if (!connection_ok(d))
			return DB_UNAVAILABLE;
		res = prepare_on_server(d, q);
		if (res != DB_DONE)
			return res;
		q->res = await(d, PQsendQueryPrepared(d->conn, q->name, q->nparams, q->values,
						      q->lengths, q->formats, 0));
		res = result_of(d, q->res);
		if (res != DB_DONE) {
			drop_result(q);
			return res;
		}
		if (PQresultStatus(q->res) != PGRES_TUPLES_OK)
			return DB_DONE; /* stays done until reset */
		q->ncols = PQnfields(q->res);
		q->row = -1;
	}
	if (PQresultStatus(q->res) != PGRES_TUPLES_OK)
		return DB_DONE;
	if (q->blobs)
		for (int i = 0; i < q->ncols; i++) {
			free(q->blobs[i]);
			q->blobs[i] = NULL;
		}
	if (q->row + 1 >= PQntuples(q->res)) {
		q->row = PQntuples(q->res);
		return DB_DONE;
	}
	q->row++;
	return DB_ROW;
}

static bool have_row(struct pg_stmt *q, int i)
{
	return q->res && q->row >= 0 && q->row < PQntuples(q->res) && i >= 0 && i < q->ncols;
}

static int pg_col_count(struct db_stmt *st)
{
	struct pg_stmt *q = PGS(st);

	return q->res ? PQnfields(q->res) : 0;
}

static bool pg_col_null(struct db_stmt *st, int i)
{
	struct pg_stmt *q = PGS(st);

	return !have_row(q, i) || PQgetisnull(q->res, q->row, i);
}

static int64_t pg_col_int64(struct db_stmt *st, int i)
{
	struct pg_stmt *q = PGS(st);
	const char *v;

	if (pg_col_null(st, i))
		return 0;
	v = PQgetvalue(q->res, q->row, i);
	if (PQftype(q->res, i) == PG_BOOL_OID)
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct db_stmt *st, int i)
{
	struct pg_stmt *q = PGS(st);

	if (pg_col_null(st, i))
		return NULL;
	return PQgetvalue(q->res, q->row, i);
}

static const void *pg_col_blob(struct db_stmt *st, int i, size_t *n)
{
	struct pg_stmt *q = PGS(st);
	const char *v;
	size_t len;

	*n = 0;
	if (pg_col_null(st, i))
		return NULL;
	v = PQgetvalue(q->res, q->row, i);
	len = (size_t)PQgetlength(q->res, q->row, i);
	if (PQftype(q->res, i) != PG_BYTEA_OID || len < 2 || v[0] != '\\' || v[1] != 'x') {
		*n = len;
		return v;
	}
	if (!q->blobs) {
		q->blobs = calloc((size_t)q->ncols, sizeof(*q->blobs));
		q->blob_len = calloc((size_t)q->ncols, sizeof(*q->blob_len));
		if (!q->blobs || !q->blob_len) {
			free(q->blobs);
			free(q->blob_len);
			q->blobs = NULL;
			q->blob_len = NULL;
			return NULL;
		}
	}
	if (!q->blobs[i]) {
		size_t m = (len - 2) / 2, got = 0;
		uint8_t *b = malloc(m ? m : 1);
		if (!b || sodium_hex2bin(b, m ? m : 1, v + 2, len - 2, NULL, &got, NULL) != 0 ||
		    got != m) {
			free(b);
			return NULL;
		}
		m = got;
		q->blobs[i] = b;
		q->blob_len[i] = m;
	}
	*n = q->blob_len[i];
	return q->blobs[i];
}

static size_t pg_col_bytes(struct db_stmt *st, int i)
{
	struct pg_stmt *q = PGS(st);
	size_t n;

	if (pg_col_null(st, i))
		return 0;
	if (PQftype(q->res, i) == PG_BYTEA_OID) {
		pg_col_blob(st, i, &n);
		return n;
	}
	return (size_t)PQgetlength(q->res, q->row, i);
}

static int64_t pg_changes(struct db *db)
{
	return PGDB(db)->changes;
}

static const char *pg_errmsg(struct db *db)
{
	return PGDB(db)->err;
}

const struct db_driver db_pg_driver = {
    .kind = DB_POSTGRESQL,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .clear = pg_clear,
    .param_index = pg_param_index,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_textn = pg_bind_textn,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_count = pg_col_count,
    .col_null = pg_col_null,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .col_bytes = pg_col_bytes,
    .changes = pg_changes,
    .errmsg = pg_errmsg,
};

void db_pg_answer_bound(struct db *db, int ms)
{
	PGDB(db)->answer_ms = ms > 0 ? ms : PG_ANSWER_MS;
}
