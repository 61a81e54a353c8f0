/* store_batch.c - a batch's writes in memory, coalesced per key and
 * readable, and the thread that commits them while the next batch is
 * handled. */
#include "store_batch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "hashmap.h"
#include "log.h"
#include "text.h"
#include "worker.h"

/* A write; strings are offsets into the batch's buf, which grows. */
struct bwrite {
	size_t ns, key, key_len, value, len; /* value SIZE_MAX: a delete */
	size_t topic;                        /* SIZE_MAX: none */
	int64_t offset;
	int32_t partition;
	uint32_t hash;
	bool replaced; /* a later write of the batch to the same key */
};

struct balert {
	size_t sink, dedupe, body, body_len;
	int64_t now_ms, window_ms;
};

struct eddy_store_batch {
	struct eddy_strings buf; /* the strings of writes and alerts */
	struct bwrite *writes;
	size_t n_writes, cap_writes;
	struct balert *alerts;
	size_t n_alerts, cap_alerts;
	/* open addressing on the writes' hashes: index + 1 of the key's
	 * latest write, 0 free; twice as many slots as writes at least */
	uint32_t *slots;
	size_t cap_slots;
	size_t topic_at; /* the last origin topic copied, SIZE_MAX: none yet */
};

/* Buffers grown past this by one big batch are given back. */
#define KEEP_BYTES (8u << 20)

struct eddy_store_batch *eddy_store_batch_new(void)
{
	struct eddy_store_batch *b = calloc(1, sizeof *b);
	if (b)
		b->topic_at = SIZE_MAX;
	return b;
}

void eddy_store_batch_destroy(struct eddy_store_batch *b)
{
	if (!b)
		return;
	free(b->buf.s);
	free(b->writes);
	free(b->alerts);
	free(b->slots);
	free(b);
}

void eddy_store_batch_reset(struct eddy_store_batch *b)
{
	if (b->n_writes)
		memset(b->slots, 0, b->cap_slots * sizeof *b->slots);
	b->n_writes = b->n_alerts = 0;
	b->topic_at = SIZE_MAX;
	eddy_strings_clear(&b->buf, KEEP_BYTES);
	if (b->cap_slots * sizeof *b->slots > KEEP_BYTES) {
		free(b->slots);
		free(b->writes);
		b->slots = NULL;
		b->writes = NULL;
		b->cap_slots = b->cap_writes = 0;
	}
}

size_t eddy_store_batch_count(const struct eddy_store_batch *b)
{
	return b->n_writes + b->n_alerts;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The namespace in lower case with its NUL, then the key (a valid
 * namespace is at most EDDY_STORE_NS_MAX characters). */
static uint32_t hash_of(const char *ns, const char *key, size_t key_len)
{
	char folded[EDDY_STORE_NS_MAX + 1];
	size_t n = 0;
	for (; ns[n] && n < EDDY_STORE_NS_MAX; n++)
		folded[n] = lower(ns[n]);
	folded[n] = '\0';
	return (uint32_t)eddy_fnv1a(eddy_fnv1a(EDDY_FNV1A_INIT, folded, n + 1), key, key_len);
}

static bool ns_equal(const char *a, const char *b)
{
	for (; *a && lower(*a) == lower(*b); a++, b++)
		;
	return *a == *b || lower(*a) == lower(*b);
}

/* The slot of key in ns: holding its latest write, or the free one where it
 * would go. */
static uint32_t *slot_of(const struct eddy_store_batch *b, uint32_t hash, const char *ns,
                         const char *key, size_t key_len)
{
	size_t mask = b->cap_slots - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		uint32_t *s = &b->slots[i];
		if (!*s)
			return s;
		const struct bwrite *w = &b->writes[*s - 1];
		if (w->hash == hash && w->key_len == key_len &&
		    memcmp(b->buf.s + w->key, key, key_len) == 0 && ns_equal(b->buf.s + w->ns, ns))
			return s;
	}
}

/* Room for one more write: the array and a table at most half full. */
static int reserve(struct eddy_store_batch *b)
{
	if (b->n_writes == b->cap_writes) {
		size_t cap = b->cap_writes ? b->cap_writes * 2 : 1024;
		struct bwrite *w = eddy_alloc_realloc(b->writes, cap * sizeof *w);
		if (!w)
			return -1;
		b->writes = w;
		b->cap_writes = cap;
	}
	if ((b->n_writes + 1) * 2 <= b->cap_slots)
		return 0;
	size_t cap = b->cap_slots ? b->cap_slots * 2 : 2048;
	uint32_t *slots = eddy_alloc_calloc(cap, sizeof *slots);
	if (!slots)
		return -1;
	free(b->slots);
	b->slots = slots;
	b->cap_slots = cap;
	for (size_t i = 0; i < b->n_writes; i++) {
		const struct bwrite *w = &b->writes[i];
		if (w->replaced)
			continue;
		*slot_of(b, w->hash, b->buf.s + w->ns, b->buf.s + w->key, w->key_len) =
		    (uint32_t)i + 1;
	}
	return 0;
}

/* The offset of the origin's topic in buf: copied once per batch while
 * records come from one topic. */
static size_t topic_at(struct eddy_store_batch *b, const char *topic)
{
	if (!topic)
		return SIZE_MAX;
	if (b->topic_at != SIZE_MAX && strcmp(topic, b->buf.s + b->topic_at) == 0)
		return b->topic_at;
	return b->topic_at = eddy_strings_put(&b->buf, topic, strlen(topic));
}

int eddy_store_batch_put(struct eddy_store_batch *b, const char *ns, const char *key,
                         size_t key_len, const char *value, size_t len,
                         const struct eddy_store_origin *origin)
{
	if (reserve(b) != 0)
		return -1;
	struct bwrite w = {
	    .ns = eddy_strings_put(&b->buf, ns, strlen(ns)),
	    .key = eddy_strings_put(&b->buf, key, key_len),
	    .key_len = key_len,
	    .value = value ? eddy_strings_put(&b->buf, value, len) : SIZE_MAX,
	    .len = value ? len : 0,
	    .topic = origin ? topic_at(b, origin->topic) : SIZE_MAX,
	    .offset = origin ? origin->offset : -1,
	    .partition = origin ? origin->partition : -1,
	    .hash = hash_of(ns, key, key_len),
	};
	if (w.ns == SIZE_MAX || w.key == SIZE_MAX || (value && w.value == SIZE_MAX) ||
	    (origin && origin->topic && w.topic == SIZE_MAX))
		return -1;
	uint32_t *s = slot_of(b, w.hash, ns, key, key_len);
	if (*s)
		b->writes[*s - 1].replaced = true;
	b->writes[b->n_writes++] = w;
	*s = (uint32_t)b->n_writes;
	return 0;
}

int eddy_store_batch_alert(struct eddy_store_batch *b, const char *sink, const char *dedupe_key,
                           const char *body, size_t body_len, int64_t now_ms, int64_t window_ms)
{
	if (b->n_alerts == b->cap_alerts) {
		size_t cap = b->cap_alerts ? b->cap_alerts * 2 : 16;
		struct balert *v = eddy_alloc_realloc(b->alerts, cap * sizeof *v);
		if (!v)
			return -1;
		b->alerts = v;
		b->cap_alerts = cap;
	}
	struct balert a = {eddy_strings_put(&b->buf, sink, strlen(sink)),
	                   eddy_strings_put(&b->buf, dedupe_key, strlen(dedupe_key)),
	                   eddy_strings_put(&b->buf, body, body_len),
	                   body_len,
	                   now_ms,
	                   window_ms};
	if (a.sink == SIZE_MAX || a.dedupe == SIZE_MAX || a.body == SIZE_MAX)
		return -1;
	b->alerts[b->n_alerts++] = a;
	return 0;
}

int eddy_store_batch_find(const struct eddy_store_batch *b, const char *ns, const char *key,
                          size_t key_len, const char **value, size_t *len)
{
	if (!b->n_writes)
		return 0;
	const uint32_t *s = slot_of(b, hash_of(ns, key, key_len), ns, key, key_len);
	if (!*s)
		return 0;
	const struct bwrite *w = &b->writes[*s - 1];
	*value = w->value == SIZE_MAX ? NULL : b->buf.s + w->value;
	*len = w->len;
	return 1;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int eddy_store_batch_commit(struct eddy_store *s, const struct eddy_store_batch *b,
                            struct eddy_store_batch_result *res, char *errstr, size_t errstr_size)
{
	double t0 = mono_s();
	*res = (struct eddy_store_batch_result){0};
	if (eddy_store_begin(s, errstr, errstr_size) != 0)
		return -1;
	for (size_t i = 0; i < b->n_writes; i++) {
		const struct bwrite *w = &b->writes[i];
		if (w->replaced)
			continue;
		const char *ns = b->buf.s + w->ns, *key = b->buf.s + w->key;
		struct eddy_store_origin origin = {
		    w->topic == SIZE_MAX ? NULL : b->buf.s + w->topic, w->partition, w->offset};
		int rc = w->value == SIZE_MAX
		             ? eddy_store_delete(s, ns, key, w->key_len, errstr, errstr_size)
		             : eddy_store_upsert(s, ns, key, w->key_len, b->buf.s + w->value,
		                                 w->len, &origin, errstr, errstr_size);
		if (rc != 0)
			goto fail;
	}
	for (size_t i = 0; i < b->n_alerts; i++) {
		const struct balert *a = &b->alerts[i];
		int rc = eddy_store_outbox_add(s, b->buf.s + a->sink, b->buf.s + a->dedupe,
		                               b->buf.s + a->body, a->body_len, a->now_ms,
		                               a->window_ms, errstr, errstr_size);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			res->alerts++;
		else
			res->alerts_deduped++;
	}
	if (eddy_store_commit(s, errstr, errstr_size) != 0)
		return -1; /* rolled back by the store */
	res->seconds = mono_s() - t0;
	return 0;
fail:
	eddy_store_rollback(s);
	return -1;
}

/* ---- the writer thread ------------------------------------------------- */

struct eddy_store_writer {
	struct eddy_store *store;
	struct eddy_worker t; /* woken when a batch was submitted, or for the stop */
	pthread_cond_t done;  /* the batch in flight is committed or rolled back */
	/* under t.lock */
	const struct eddy_store_batch *job; /* submitted, not yet taken */
	bool busy;                          /* submitted, not yet waited for */
	bool finished;                      /* the batch in flight is over */
	int rc;
	struct eddy_store_batch_result res;
	char error[1024];
};

static void *writer_main(void *arg)
{
	struct eddy_store_writer *w = arg;
	pthread_setname_np(pthread_self(), "eddy-store"); /* in top -H, perf */
	pthread_mutex_lock(&w->t.lock);
	for (;;) {
		while (!w->job && !w->t.stopping)
			pthread_cond_wait(&w->t.wake, &w->t.lock);
		if (!w->job)
			break;
		const struct eddy_store_batch *b = w->job;
		w->job = NULL;
		pthread_mutex_unlock(&w->t.lock);
		struct eddy_store_batch_result res;
		char error[sizeof w->error];
		int rc = eddy_store_batch_commit(w->store, b, &res, error, sizeof error);
		pthread_mutex_lock(&w->t.lock);
		w->rc = rc;
		w->res = res;
		if (rc != 0)
			memcpy(w->error, error, sizeof error);
		w->finished = true;
		pthread_cond_signal(&w->done);
	}
	pthread_mutex_unlock(&w->t.lock);
	return NULL;
}

struct eddy_store_writer *eddy_store_writer_start(struct eddy_store *s, char *errstr,
                                                  size_t errstr_size)
{
	struct eddy_store_writer *w = calloc(1, sizeof *w);
	if (!w) {
		eddy_errf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	w->store = s;
	pthread_cond_init(&w->done, NULL);
	if (eddy_worker_start(&w->t, writer_main, w, "store writer", errstr, errstr_size) != 0) {
		pthread_cond_destroy(&w->done);
		free(w);
		return NULL;
	}
	return w;
}

void eddy_store_writer_stop(struct eddy_store_writer *w)
{
	if (!w)
		return;
	char scratch[16];
	struct eddy_store_batch_result res;
	eddy_store_writer_wait(w, &res, scratch, sizeof scratch);
	eddy_worker_stop(&w->t);
	pthread_cond_destroy(&w->done);
	free(w);
}

void eddy_store_writer_submit(struct eddy_store_writer *w, const struct eddy_store_batch *b)
{
	pthread_mutex_lock(&w->t.lock);
	w->job = b;
	w->busy = true;
	w->finished = false;
	pthread_cond_signal(&w->t.wake);
	pthread_mutex_unlock(&w->t.lock);
}

bool eddy_store_writer_busy(const struct eddy_store_writer *w)
{
	/* only the submitting thread changes busy */
	return w->busy;
}

bool eddy_store_writer_done(struct eddy_store_writer *w)
{
	pthread_mutex_lock(&w->t.lock);
	bool done = w->busy && w->finished;
	pthread_mutex_unlock(&w->t.lock);
	return done;
}

int eddy_store_writer_wait(struct eddy_store_writer *w, struct eddy_store_batch_result *res,
                           char *errstr, size_t errstr_size)
{
	*res = (struct eddy_store_batch_result){0};
	if (!w->busy)
		return 0;
	pthread_mutex_lock(&w->t.lock);
	while (!w->finished)
		pthread_cond_wait(&w->done, &w->t.lock);
	int rc = w->rc;
	*res = w->res;
	if (rc != 0)
		snprintf(errstr, errstr_size, "%s", w->error);
	w->busy = false;
	pthread_mutex_unlock(&w->t.lock);
	return rc;
}
