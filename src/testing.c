/* testing.c - the handler test kit's C functions ("eddy.testing.core"): a
 * real pipeline on a temporary SQLite store, its actions and dead letters
 * recorded for lua/eddy/testing.lua. */
#include "testing.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#include "config.h"
#include "input.h"
#include "json.h"
#include "log.h"
#include "lua_json.h"
#include "lua_preload.h"
#include "pipeline.h"
#include "store/store.h"
#include "text.h"

#define KIT_MT "eddy.testing.kit"

/* An action as the observer saw it, copied: the pipeline lends its
 * strings for the call only. */
struct act {
	enum eddy_action_kind kind;
	char *target, *key, *value, *severity, *summary; /* NULL when absent */
	size_t key_len, value_len;
	bool repeated;
};

/* An alert the record's batch wrote to the outbox (only with alerts.sinks). */
struct outboxed {
	int64_t id;
	char *body;
	size_t len;
};

/* One handler (file or folder) under test, owned by its Lua userdata: every
 * resource hangs off it as soon as it exists, so a Lua error anywhere
 * leaves nothing behind once the userdata is collected. */
struct kit {
	struct eddy_config *conf;
	struct eddy_pipeline *p;
	/* a handle of its own on the pipeline's SQLite file: seeding, get and
	 * the outbox, outside the pipeline's batches */
	struct eddy_store *store;
	struct eddy_input *in; /* of the replay under way */
	char *tmp; /* temporary folder: the store, the folder of a single handler file */
	/* a single handler file is loaded from a folder of tmp: messages name
	 * it as the runtime would (from: that folder, to: the file's own) */
	char *from, *to;
	struct act *acts; /* of the record being handled */
	size_t n_acts, cap_acts;
	struct outboxed *alerts;
	size_t n_alerts, cap_alerts;
	bool dead; /* the record was dead-lettered: */
	char *dl_stage, *dl_reason, *dl_handler;
	bool oom; /* a copy above failed */
};

/* A copy of s with every from replaced by to (NULL: out of memory). */
static char *rewrite(const char *s, const char *from, const char *to)
{
	size_t fl = from ? strlen(from) : 0, tl = to ? strlen(to) : 0, n = 0, len = strlen(s);
	const char *p;

	if (!fl)
		return strdup(s);
	for (p = s; (p = strstr(p, from)); p += fl)
		n++;
	char *out = malloc(len + n * (tl >= fl ? tl - fl : 0) + 1), *o = out;
	if (!out)
		return NULL;
	for (p = s;;) {
		const char *at = strstr(p, from);
		size_t k = at ? (size_t)(at - p) : strlen(p);
		memcpy(o, p, k);
		o += k;
		if (!at)
			break;
		memcpy(o, to, tl);
		o += tl;
		p = at + fl;
	}
	*o = '\0';
	return out;
}

/* strdup of s, NULL for NULL; sets *oom when the copy fails. */
static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

static void act_free(struct act *a)
{
	free(a->target);
	free(a->key);
	free(a->value);
	free(a->severity);
	free(a->summary);
}

/* Forgets what the last record did. */
static void reset(struct kit *k)
{
	for (size_t i = 0; i < k->n_acts; i++)
		act_free(&k->acts[i]);
	k->n_acts = 0;
	for (size_t i = 0; i < k->n_alerts; i++)
		free(k->alerts[i].body);
	k->n_alerts = 0;
	free(k->dl_stage);
	free(k->dl_reason);
	free(k->dl_handler);
	k->dl_stage = k->dl_reason = k->dl_handler = NULL;
	k->dead = k->oom = false;
}

/* eddy_observe_fn: every action of the record, in order. */
static void observe(void *ud, const struct eddy_action *a)
{
	struct kit *k = ud;
	struct act c = {.kind = a->kind, .repeated = a->repeated};

	if (k->n_acts == k->cap_acts) {
		size_t cap = k->cap_acts ? k->cap_acts * 2 : 16;
		struct act *v = realloc(k->acts, cap * sizeof *v);
		if (!v) {
			k->oom = true;
			return;
		}
		k->acts = v;
		k->cap_acts = cap;
	}
	c.target = dup_opt(a->target, &k->oom);
	c.severity = dup_opt(a->severity, &k->oom);
	c.summary = dup_opt(a->summary, &k->oom);
	if (a->key && !(c.key = eddy_memdup0(a->key, c.key_len = a->key_len)))
		k->oom = true;
	if (a->value) {
		/* a log's fields are NUL-terminated, without a length */
		c.value_len = a->kind == EDDY_ACTION_LOG ? strlen(a->value) : a->value_len;
		if (!(c.value = eddy_memdup0(a->value, c.value_len)))
			k->oom = true;
	}
	k->acts[k->n_acts++] = c;
}

/* eddy_dead_letter_fn: kept for the result instead of a Kafka topic. */
static int dead_letter(void *ud, const struct eddy_msg *m, const struct eddy_dead_letter *dl)
{
	struct kit *k = ud;
	(void)m;
	k->dead = true;
	k->dl_stage = dup_opt(dl->stage, &k->oom);
	k->dl_handler = dup_opt(dl->handler, &k->oom);
	if (!(k->dl_reason = rewrite(dl->reason, k->from, k->to)))
		k->oom = true;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void kit_close(struct kit *k)
{
	reset(k);
	free(k->acts);
	free(k->alerts);
	k->acts = NULL;
	k->alerts = NULL;
	k->cap_acts = k->cap_alerts = 0;
	eddy_input_destroy(k->in);
	eddy_pipeline_destroy(k->p);
	eddy_store_destroy(k->store);
	eddy_config_destroy(k->conf);
	k->in = NULL;
	k->p = NULL;
	k->store = NULL;
	k->conf = NULL;
	if (k->tmp)
		nftw(k->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(k->tmp);
	free(k->from);
	free(k->to);
	k->tmp = k->from = k->to = NULL;
}

static struct kit *check_kit(lua_State *L)
{
	struct kit *k = luaL_checkudata(L, 1, KIT_MT);
	if (!k->p)
		luaL_error(L, "the handler under test is closed");
	return k;
}

/* Replaces a string of the config (freed by eddy_config_destroy). */
static int set_string(char **field, const char *value)
{
	char *v = value ? strdup(value) : NULL;
	if (value && !v)
		return -1;
	free(*field);
	*field = v;
	return 0;
}

/* The process environment without EDDY_* overrides: a test sees the
 * config it was given, whatever the shell exports. The array is freed by
 * the caller; its strings are environ's. */
static char **env_without_overrides(void)
{
	extern char **environ;
	size_t n = 0, j = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 1, sizeof *envp);
	for (size_t i = 0; envp && i < n; i++)
		if (strncmp(environ[i], "EDDY_", 5) != 0)
			envp[j++] = environ[i];
	return envp;
}

/* Loads the handler file or folder at path in tmp. */
static int place_handlers(struct kit *k, const char *path, char *errstr, size_t errstr_size)
{
	struct stat st;
	char *real = NULL, *link = NULL, *lib = NULL, *reallib = NULL;
	int rc = -1;

	if (stat(path, &st) != 0) {
		eddy_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return set_string(&k->conf->handlers, path) == 0 ? 0 : -1;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
	/* the folder of the file: its lib/ for require, "handlers/" in messages */
	if (asprintf(&k->from, "%s/handlers/", k->tmp) < 0 ||
	    !(k->to = eddy_memdup0(path, dir_len)) || asprintf(&link, "%s%s", k->from, base) < 0 ||
	    asprintf(&lib, "%.*slib", (int)dir_len, path) < 0) {
		link = lib = NULL;
		eddy_errf(errstr, errstr_size, "out of memory");
		goto out;
	}
	link[strlen(k->from) - 1] = '\0';
	if (mkdir(link, 0700) != 0) {
		eddy_errf(errstr, errstr_size, "%s: %s", link, strerror(errno));
		goto out;
	}
	if (set_string(&k->conf->handlers, link) != 0) {
		eddy_errf(errstr, errstr_size, "out of memory");
		goto out;
	}
	link[strlen(k->from) - 1] = '/';
	if (!(real = realpath(path, NULL)) || symlink(real, link) != 0) {
		eddy_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		goto out;
	}
	free(link);
	link = NULL;
	if (stat(lib, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (asprintf(&link, "%slib", k->from) < 0) {
			link = NULL;
			eddy_errf(errstr, errstr_size, "out of memory");
			goto out;
		}
		if (!(reallib = realpath(lib, NULL)) || symlink(reallib, link) != 0) {
			eddy_errf(errstr, errstr_size, "%s: %s", lib, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	free(real);
	free(link);
	free(lib);
	free(reallib);
	return rc;
}

/* core.new(path, yaml, config_file) -> kit | nil, err: the handler file
 * or folder at path under the config in the YAML text (or the file), with
 * a store of its own. */
static int l_new(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *yaml = luaL_optstring(L, 2, NULL);
	const char *file = luaL_optstring(L, 3, NULL);
	struct kit *k = lua_newuserdata(L, sizeof *k); /* kit */
	char err[1024], *db = NULL, *rules = NULL, **envp = NULL;
	const char *tmpdir = getenv("TMPDIR");

	memset(k, 0, sizeof *k);
	luaL_getmetatable(L, KIT_MT);
	lua_setmetatable(L, -2);
	if (asprintf(&k->tmp, "%s/eddy-test.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") < 0) {
		k->tmp = NULL;
		return luaL_error(L, "out of memory");
	}
	if (!mkdtemp(k->tmp)) {
		eddy_errf(err, sizeof err, "%s: %s", k->tmp, strerror(errno));
		free(k->tmp);
		k->tmp = NULL;
		goto fail;
	}
	if (!(envp = env_without_overrides())) {
		eddy_errf(err, sizeof err, "out of memory");
		goto fail;
	}
	k->conf =
	    file ? eddy_config_load(file, envp, err, sizeof err)
	         : eddy_config_load_string("config", yaml ? yaml : "{}", envp, err, sizeof err);
	free(envp);
	if (!k->conf || place_handlers(k, path, err, sizeof err) != 0)
		goto fail;
	/* the kit's own store; a failing handler is dead-lettered at once, as
	 * its retries would fail the same way */
	if (asprintf(&db, "%s/state.db", k->tmp) < 0) {
		db = NULL;
		eddy_errf(err, sizeof err, "out of memory");
		goto fail;
	}
	if (set_string(&k->conf->store_type, "sqlite") != 0 ||
	    set_string(&k->conf->store_path, db) != 0 || set_string(&k->conf->store_dsn, NULL)) {
		eddy_errf(err, sizeof err, "out of memory");
		goto fail;
	}
	k->conf->handler_retries = 0;
	/* the handlers given and nothing else: not the alert rules of a
	 * rules/ folder beside the specs */
	if (asprintf(&rules, "%s/rules", k->tmp) < 0) {
		rules = NULL;
		eddy_errf(err, sizeof err, "out of memory");
		goto fail;
	}
	if (mkdir(rules, 0700) != 0 || set_string(&k->conf->rules, rules) != 0) {
		eddy_errf(err, sizeof err, "%s: %s", rules, strerror(errno));
		goto fail;
	}
	free(rules);
	rules = NULL;
	/* every ctx.log is recorded, whatever log.level says */
	eddy_log_setup("debug", "text");

	struct eddy_pipeline_opts po = {
	    .observe = observe, .observe_ud = k, .dead_letter = dead_letter, .dead_letter_ud = k};
	if (!(k->p = eddy_pipeline_new(k->conf, &po, err, sizeof err)) ||
	    !(k->store = eddy_store_open_sqlite(db, 0, err, sizeof err)))
		goto fail;
	free(db);
	return 1;
fail:
	free(db);
	free(rules);
	{
		char *shown = rewrite(err, k->from, k->to);
		lua_pushnil(L);
		lua_pushstring(L, shown ? shown : err);
		free(shown);
	}
	kit_close(k);
	return 2;
}

static const char *const outcomes[] = {"handled", "skipped", "dead", "failed", "retry"};
static const char *const kinds[] = {"upsert", "delete", "alert", "publish", "log"};

static void set_lstring(lua_State *L, const char *name, const char *s, size_t len)
{
	if (!s)
		return;
	lua_pushlstring(L, s, len);
	lua_setfield(L, -2, name);
}

static void set_string_field(lua_State *L, const char *name, const char *s)
{
	if (s)
		set_lstring(L, name, s, strlen(s));
}

/* eddy_store_outbox_due's callback: a copy of each new alert. */
static void take_alert(void *ud, const struct eddy_outbox_alert *a)
{
	struct kit *k = ud;
	if (k->n_alerts == k->cap_alerts) {
		size_t cap = k->cap_alerts ? k->cap_alerts * 2 : 8;
		struct outboxed *v = realloc(k->alerts, cap * sizeof *v);
		if (!v) {
			k->oom = true;
			return;
		}
		k->alerts = v;
		k->cap_alerts = cap;
	}
	struct outboxed o = {a->id, eddy_memdup0(a->body, a->body_len), a->body_len};
	if (!o.body) {
		k->oom = true;
		return;
	}
	k->alerts[k->n_alerts++] = o;
}

/* Handles m in a batch of its own, then pushes what happened:
 * { outcome, actions = { {kind, target, key, value, severity, summary,
 * repeated} ... }, alerts = { outbox body ... }, dead_letter = { stage,
 * reason, handler } }. Raises when the batch cannot be handled (the store
 * failed), as the runtime would retry it. */
static int handle(lua_State *L, struct kit *k, const struct eddy_msg *m)
{
	char err[1024];

	reset(k);
	if (eddy_pipeline_begin(k->p, err, sizeof err) != 0)
		return luaL_error(L, "%s", err);
	enum eddy_outcome o = eddy_pipeline_handle(k->p, m);
	if (o == EDDY_OUTCOME_FAILED) {
		eddy_pipeline_abort(k->p);
		return luaL_error(L, "%s", eddy_pipeline_error(k->p));
	}
	if (eddy_pipeline_commit(k->p, err, sizeof err) != 0)
		return luaL_error(L, "%s", err);
	/* the alerts the batch added to the outbox (sinks configured), marked
	 * delivered so that the next record's are told apart; nothing sends
	 * them */
	if (eddy_store_outbox_due(k->store, INT64_MAX, 1000000, take_alert, k, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	for (size_t i = 0; i < k->n_alerts; i++)
		if (eddy_store_outbox_mark(k->store, k->alerts[i].id, EDDY_OUTBOX_DELIVERED, 0,
		                           NULL, err, sizeof err) != 0)
			return luaL_error(L, "%s", err);
	if (k->oom)
		return luaL_error(L, "out of memory");

	lua_createtable(L, 0, 4); /* result */
	lua_pushstring(L, outcomes[o]);
	lua_setfield(L, -2, "outcome");
	lua_createtable(L, (int)k->n_acts, 0); /* result, actions */
	for (size_t i = 0; i < k->n_acts; i++) {
		const struct act *a = &k->acts[i];
		lua_createtable(L, 0, 7); /* result, actions, action */
		lua_pushstring(L, kinds[a->kind]);
		lua_setfield(L, -2, "kind");
		set_string_field(L, "target", a->target);
		set_lstring(L, "key", a->key, a->key_len);
		set_lstring(L, "value", a->value, a->value_len);
		set_string_field(L, "severity", a->severity);
		set_string_field(L, "summary", a->summary);
		lua_pushboolean(L, a->repeated);
		lua_setfield(L, -2, "repeated");
		lua_rawseti(L, -2, (int)i + 1); /* result, actions */
	}
	lua_setfield(L, -2, "actions");          /* result */
	lua_createtable(L, (int)k->n_alerts, 0); /* result, alerts */
	for (size_t i = 0; i < k->n_alerts; i++) {
		lua_pushlstring(L, k->alerts[i].body, k->alerts[i].len);
		lua_rawseti(L, -2, (int)i + 1);
	}
	lua_setfield(L, -2, "alerts"); /* result */
	if (k->dead) {
		lua_createtable(L, 0, 3); /* result, dead_letter */
		set_string_field(L, "stage", k->dl_stage);
		set_string_field(L, "reason", k->dl_reason);
		set_string_field(L, "handler", k->dl_handler);
		lua_setfield(L, -2, "dead_letter"); /* result */
	}
	return 1;
}

/* kit:send{ topic, partition, offset, key, value, headers = { name =
 * value } } -> result (see handle): one record as Kafka would hand it
 * over; value nil is a tombstone. */
static int l_send(lua_State *L)
{
	struct kit *k = check_kit(L);
	struct eddy_msg m = {.timestamp_ms = -1};

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	lua_getfield(L, 2, "topic"); /* 3 */
	m.topic = luaL_checkstring(L, 3);
	lua_getfield(L, 2, "partition"); /* 4 */
	m.partition = (int32_t)luaL_optinteger(L, 4, 0);
	lua_getfield(L, 2, "offset"); /* 5 */
	m.offset = (int64_t)luaL_optnumber(L, 5, 0);
	lua_getfield(L, 2, "key"); /* 6 */
	if (!lua_isnil(L, 6))
		m.key = luaL_checklstring(L, 6, &m.key_len);
	lua_getfield(L, 2, "value"); /* 7 */
	if (!lua_isnil(L, 7))
		m.value = luaL_checklstring(L, 7, &m.value_len);
	lua_getfield(L, 2, "headers"); /* 8 */
	if (lua_istable(L, 8)) {
		size_t n = 0;
		for (lua_pushnil(L); lua_next(L, 8); lua_pop(L, 1))
			n++;
		/* collected with the call's stack: nothing to free on an error */
		struct eddy_header *h = lua_newuserdata(L, (n ? n : 1) * sizeof *h); /* 9 */
		for (lua_pushnil(L); lua_next(L, 8); lua_pop(L, 1)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				return luaL_error(L, "headers: names and values must be strings");
			h[m.n_headers].name = lua_tostring(L, -2);
			h[m.n_headers].value = lua_tolstring(L, -1, &h[m.n_headers].len);
			m.n_headers++;
		}
		m.headers = h;
	}
	return handle(L, k, &m);
}

/* kit:replay(path, topic) -> { result ... }: the records of an NDJSON or
 * KEY<TAB>VALUE file (as eddy replay reads them), each handled as by
 * send, each result with its line. */
static int l_replay(lua_State *L)
{
	struct kit *k = check_kit(L);
	const char *path = luaL_checkstring(L, 2);
	const char *topic = luaL_checkstring(L, 3);
	char err[1024];
	struct eddy_msg m;
	int got, n = 0;

	eddy_input_destroy(k->in);
	if (!(k->in = eddy_input_open(path, topic, err, sizeof err)))
		return luaL_error(L, "%s", err);
	lua_newtable(L); /* results */
	while ((got = eddy_input_next(k->in, &m, err, sizeof err)) > 0) {
		handle(L, k, &m); /* results, result */
		lua_pushinteger(L, (lua_Integer)eddy_input_line(k->in));
		lua_setfield(L, -2, "line");
		lua_rawseti(L, -2, ++n); /* results */
	}
	eddy_input_destroy(k->in);
	k->in = NULL;
	if (got < 0)
		return luaL_error(L, "%s", err);
	return 1;
}

/* kit:get(ns, key) -> JSON text | nil | nil, err: the stored value. */
static int l_get(lua_State *L)
{
	struct kit *k = check_kit(L);
	const char *ns = luaL_checkstring(L, 2);
	size_t key_len, len;
	const char *key = luaL_checklstring(L, 3, &key_len), *value;
	char err[1024];

	if (eddy_store_check_ns(ns, err, sizeof err) != 0)
		return luaL_error(L, "%s", err);
	int rc = eddy_store_get(k->store, ns, key, key_len, &value, &len, err, sizeof err);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (rc == 0)
		lua_pushnil(L);
	else
		lua_pushlstring(L, value, len);
	return 1;
}

/* kit:put(ns, key, json) -> true | nil, err: stores a value as if a
 * handler had (without a topic). Misuse (a bad namespace, text that is
 * not JSON) raises. */
static int l_put(lua_State *L)
{
	struct kit *k = check_kit(L);
	const char *ns = luaL_checkstring(L, 2);
	size_t key_len, len;
	const char *key = luaL_checklstring(L, 3, &key_len);
	const char *value = luaL_checklstring(L, 4, &len);
	char err[1024];
	struct eddy_store_origin origin = {NULL, 0, 0};

	if (eddy_store_check_ns(ns, err, sizeof err) != 0 ||
	    eddy_store_check_write(k->store, ns, key, key_len, value, len, false, err,
	                           sizeof err) != 0)
		return luaL_error(L, "%s", err);
	if (eddy_store_begin(k->store, err, sizeof err) != 0 ||
	    eddy_store_upsert(k->store, ns, key, key_len, value, len, &origin, err, sizeof err) !=
	        0 ||
	    eddy_store_commit(k->store, err, sizeof err) != 0) {
		eddy_store_rollback(k->store);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* kit:close(): the pipeline, the store and the temporary folder go; also
 * when the kit is collected. */
static int l_close(lua_State *L)
{
	kit_close(luaL_checkudata(L, 1, KIT_MT));
	return 0;
}

/* Protected: pushes the node (lightuserdata 1) with json.array_mt at 2. */
static int push_node(lua_State *L)
{
	eddy_lua_json_push(NULL, L, lua_touserdata(L, 1), 2);
	return 1;
}

/* core.decode(text, array_mt) -> value: JSON as handlers get it (ev.data,
 * ctx.get, json.decode): every array marked, null as json.null. */
static int l_decode(lua_State *L)
{
	size_t len;
	const char *text = luaL_checklstring(L, 1, &len);
	char err[256];

	luaL_checktype(L, 2, LUA_TTABLE);
	struct eddy_json_doc *doc = eddy_json_doc_new();
	if (!doc)
		return luaL_error(L, "out of memory");
	const struct eddy_json *v = eddy_json_parse(doc, text, len, err, sizeof err);
	if (!v) {
		eddy_json_doc_destroy(doc);
		return luaL_error(L, "json.decode: %s", err);
	}
	lua_pushcfunction(L, push_node);     /* text, mt, push_node */
	lua_pushlightuserdata(L, (void *)v); /* text, mt, push_node, node */
	lua_pushvalue(L, 2);                 /* text, mt, push_node, node, mt */
	int rc = lua_pcall(L, 2, 1, 0);      /* text, mt, value | err */
	eddy_json_doc_destroy(doc);
	return rc == 0 ? 1 : lua_error(L);
}

static int l_open_core(lua_State *L)
{
	static const luaL_Reg methods[] = {{"send", l_send}, {"replay", l_replay}, {"get", l_get},
	                                   {"put", l_put},   {"close", l_close},   {NULL, NULL}};
	static const luaL_Reg fns[] = {{"new", l_new}, {"decode", l_decode}, {NULL, NULL}};

	luaL_newmetatable(L, KIT_MT); /* mt */
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__gc");
	lua_newtable(L); /* mt, methods */
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index"); /* mt */
	lua_pop(L, 1);
	lua_newtable(L); /* core */
	luaL_register(L, NULL, fns);
	return 1;
}

void eddy_testing_preload(lua_State *L)
{
	eddy_lua_preload(L);
	lua_getglobal(L, "package");       /* package */
	lua_getfield(L, -1, "preload");    /* package, preload */
	lua_pushcfunction(L, l_open_core); /* package, preload, open */
	lua_setfield(L, -2, "eddy.testing.core");
	lua_pop(L, 2);
}
