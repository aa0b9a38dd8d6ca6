/* store/writer: the one thread that writes check-in side effects.
 *
 * Handlers queue records and suspend their requests; the writer takes
 * everything queued (up to max_batch), applies it in one transaction and,
 * only after COMMIT returns, runs each record's completion, which sends
 * the reply. So an acknowledged check-in is on disk, and the cost of the
 * fsync is shared by every check-in in the batch.
 */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "steward/store.h"

struct item {
	struct store_checkin rec;
	store_writer_done_fn done;
	void *ctx;
};

struct store_writer {
	struct store *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *queue;   /* ring buffer */
	size_t cap, head, count;
	size_t max_batch;
	bool stopping;
	bool joined;
	struct store_writer_stats stats;
};

static int hist_bucket(size_t n)
{
	if (n <= 1) return 0;
	if (n <= 4) return 1;
	if (n <= 16) return 2;
	if (n <= 64) return 3;
	if (n <= 256) return 4;
	if (n <= 1024) return 5;
	return 6;
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	struct item *batch = calloc(w->max_batch, sizeof(*batch));
	struct store_checkin *recs = calloc(w->max_batch, sizeof(*recs));

	if (!batch || !recs) {
		log_error("store", "writer_nomem", "%s", "");
		abort();
	}
	for (;;) {
		size_t n = 0;
		int rc;

		pthread_mutex_lock(&w->lock);
		while (w->count == 0 && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->count == 0 && w->stopping) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		while (w->count && n < w->max_batch) {
			batch[n++] = w->queue[w->head];
			w->head = (w->head + 1) % w->cap;
			w->count--;
		}
		w->stats.queue_depth = w->count;
		pthread_mutex_unlock(&w->lock);

		for (size_t i = 0; i < n; i++)
			recs[i] = batch[i].rec;
		rc = w->st->ops->checkin_apply(w->st, recs, n);

		pthread_mutex_lock(&w->lock);
		w->stats.batches++;
		w->stats.records += n;
		if (rc)
			w->stats.failures++;
		w->stats.batch_hist[hist_bucket(n)]++;
		pthread_mutex_unlock(&w->lock);

		for (size_t i = 0; i < n; i++) {
			/* a stale record: a replay, refused as authentication */
			batch[i].done(batch[i].ctx, rc ? rc : recs[i].stale ? -STEWARD_EAUTH : 0);
			free(batch[i].rec.components);
			free(batch[i].rec.status);
			free(batch[i].rec.link);
		}
	}
	free(batch);
	free(recs);
	return NULL;
}

int store_writer_start(struct store *st, size_t max_queue, size_t max_batch,
		       struct store_writer **out)
{
	struct store_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return -STEWARD_ENOMEM;
	w->st = st;
	w->cap = max_queue ? max_queue : 1;
	w->max_batch = max_batch ? max_batch : 1;
	w->queue = calloc(w->cap, sizeof(*w->queue));
	if (!w->queue) {
		free(w);
		return -STEWARD_ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		free(w->queue);
		free(w);
		return -STEWARD_EIO;
	}
	*out = w;
	return 0;
}

int store_writer_submit(struct store_writer *w, struct store_checkin *rec,
			store_writer_done_fn done, void *ctx)
{
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		rc = -STEWARD_ECLOSED;
	} else if (w->count >= w->cap) {
		rc = -STEWARD_EBUSY;
	} else {
		struct item *it = &w->queue[(w->head + w->count) % w->cap];
		it->rec = *rec;
		it->done = done;
		it->ctx = ctx;
		w->count++;
		w->stats.queue_depth = w->count;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void store_writer_stop(struct store_writer *w)
{
	if (!w || w->joined)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->joined = true;
}

void store_writer_free(struct store_writer *w)
{
	if (!w)
		return;
	store_writer_stop(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->queue);
	free(w);
}

void store_writer_get_stats(struct store_writer *w, struct store_writer_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	out->queue_depth = w->count;
	pthread_mutex_unlock(&w->lock);
}
