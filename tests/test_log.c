/* test_log.c - log lines as a reader sees them: one line per call whatever
 * the text holds, control characters and bytes that are not UTF-8 escaped,
 * and in JSON lines the caller's fields under a key of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static char path[64];

/* What one eddy_log_at call wrote to stderr, from after its timestamp. */
static const char *logged(enum eddy_log_level level, const struct eddy_log_ctx *ctx,
                          const char *fields, const char *msg)
{
	static char buf[8192];
	size_t n;
	FILE *f;

	/* stderr into the file for the call, then back (CHECK reports there) */
	int saved = dup(STDERR_FILENO);
	fflush(stderr);
	if (saved < 0 || !freopen(path, "w", stderr))
		return "(freopen)";
	eddy_log_at(level, ctx, fields, "%s", msg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen(path, "r");
	n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	/* "2026-01-01T00:00:00.000Z " in text, {"ts":"...", in JSON */
	char *p = strstr(buf, "Z");
	return p ? p + (buf[0] == '{' ? 3 : 2) : buf;
}

static void test_text(void)
{
	CHECK(eddy_log_setup("debug", "text") == 0);
	/* a handler's message cannot start a line of its own */
	CHECK_STR(logged(EDDY_LOG_INFO, NULL, NULL, "a\n2026-01-01T00:00:00.000Z error forged"),
	          "info  a\\n2026-01-01T00:00:00.000Z error forged\n");
	CHECK_STR(logged(EDDY_LOG_WARN, NULL, "{\"x\":\"b\\nc\"}", "m\r\t\x1b[31m\x7f"),
	          "warn  m\\r\\t\\x1b[31m\\x7f {\"x\":\"b\\nc\"}\n");
	/* UTF-8 as it is; other bytes and C1 controls (which terminals obey)
	 * as \xHH; backslashes as they are */
	CHECK_STR(logged(EDDY_LOG_ERROR, NULL, NULL, "caf\xc3\xa9 \xff\xc2\x9b \xe2\x80 \\n"),
	          "error caf\xc3\xa9 \\xff\\xc2\\x9b \\xe2\\x80 \\n\n");
	/* the fields' text is escaped too */
	CHECK_STR(logged(EDDY_LOG_INFO, NULL, "{\"x\":\"\xff\"}", "m"),
	          "info  m {\"x\":\"\\xff\"}\n");
}

static void test_json(void)
{
	struct eddy_log_ctx ctx = EDDY_LOG_CTX_NONE;

	ctx.handler = "h.lua";
	CHECK(eddy_log_setup(NULL, "json") == 0);
	/* fields cannot stand in for the line's own members */
	CHECK_STR(
	    logged(EDDY_LOG_INFO, &ctx, "{\"level\":\"error\",\"msg\":\"forged\"}", "h.lua: m"),
	    "\"level\":\"info\",\"msg\":\"h.lua: m\",\"handler\":\"h.lua\","
	    "\"fields\":{\"level\":\"error\",\"msg\":\"forged\"}}\n");
	/* one line, valid JSON: control characters as JSON escapes, bytes
	 * that are not UTF-8 as the text \xHH */
	CHECK_STR(logged(EDDY_LOG_INFO, NULL, NULL, "a\n\"b\"\\\x01\xff\xc3\xa9"),
	          "\"level\":\"info\",\"msg\":\"a\\n\\\"b\\\"\\\\\\u0001\\\\xff\xc3\xa9\"}\n");
	CHECK(eddy_log_setup(NULL, "text") == 0);
}

int main(void)
{
	int fd;

	snprintf(path, sizeof path, "/tmp/eddy-test-log-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	test_text();
	test_json();
	unlink(path);
	return test_report("log");
}
