/* test_registry.c - the Schema Registry client against tests/tools/registry-fixture.py:
 * lookups, not-found answers, retries, timeouts, auth, TLS, the cache and "latest",
 * and the counters the metrics show. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "schema/registry.h"
#include "fixture.h"
#include "test.h"

#define FIXTURE "tests/tools/registry-fixture.py"

/* Schemas by id, in the fixture's one-file format. */
static const char schemas_json[] =
    "{\"1\": {\"subject\": \"orders-value\", \"version\": 1, \"schemaType\": \"JSON\","
    "        \"schema\": "
    "\"{\\\"properties\\\":{\\\"customer\\\":{\\\"$ref\\\":\\\"customer.json\\\"}}}\","
    "        \"references\": [{\"name\": \"customer.json\", \"subject\": \"customer\","
    "                          \"version\": 1}]},"
    " \"2\": {\"subject\": \"users-value\", \"version\": 1,"
    "        \"schema\": "
    "\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"User\\\",\\\"fields\\\":[]}\"},"
    " \"3\": {\"subject\": \"customer\", \"version\": 1, \"schemaType\": \"JSON\","
    "        \"schema\": {\"type\": \"object\"}},"
    " \"4\": {\"subject\": \"orders-value\", \"version\": 2, \"schemaType\": \"JSON\","
    "        \"schema\": {\"required\": [\"id\"]}},"
    " \"5\": {\"subject\": \"com.example/orders v1+?&#%\", \"version\": 1,"
    "        \"schemaType\": \"JSON\", \"schema\": {\"type\": \"string\"}},"
    " \"6\": {\"subject\": \"ttl-value\", \"version\": 1, \"schemaType\": \"JSON\","
    "        \"schema\": {\"const\": 1}},"
    " \"7\": {\"subject\": \"protos\", \"version\": 1, \"schemaType\": \"PROTOBUF\","
    "        \"schema\": \"syntax = \\\"proto3\\\";\"}}";

static char dir[] = "/tmp/eddy-registry-XXXXXX";
static char schemas_path[64], log_path[64];
static char ca_path[64], cert_path[64], key_path[64];
static char err[512];

struct fixture {
	pid_t pid;
	int port;
	char url[64];
};

/* Starts the fixture serving scheme ("http", or "https" when the extra
 * arguments include --tls) with the extra arguments, a NULL-terminated list
 * of at most 8; port 0 when it did not start. */
static struct fixture fixture_start(const char *scheme, ...)
{
	struct fixture f = {0};
	const char *argv[16] = {"python3", FIXTURE, "--schemas", schemas_path, "--log", log_path};
	size_t argc = 6;
	va_list ap;

	va_start(ap, scheme);
	while (argc < 14 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	f.port = fixture_spawn(argv, &f.pid);
	snprintf(f.url, sizeof(f.url), "%s://127.0.0.1:%d", scheme, f.port);
	return f;
}

static void fixture_stop(struct fixture *f)
{
	fixture_kill(&f->pid);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* Calls a control endpoint ("fail?count=1"); a body makes it a POST. */
static int control(const struct fixture *f, const char *what, const char *body)
{
	char url[256];
	long status = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s/_fixture/%s", f->url, what);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status == 200;
}

/* How many lines of the fixture's request log are exactly line. */
static int requests(const char *line)
{
	char buf[512];
	int n = 0;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		n += strcmp(buf, line) == 0;
	}
	fclose(f);
	return n;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static struct eddy_registry *client(const char *url, int retries)
{
	struct eddy_registry_conf conf = {
	    .url = url, .retries = retries, .backoff_ms = 20, .timeout_ms = 2000};
	struct eddy_registry *r = eddy_registry_new(&conf, err, sizeof(err));

	if (!r)
		fprintf(stderr, "eddy_registry_new: %s\n", err);
	return r;
}

/* The process's counters grew by ok, not_found and error requests, cache
 * hits and failures since *was, which becomes the counters now. */
static void check_counted(struct eddy_registry_counters *was, uint64_t ok, uint64_t not_found,
                          uint64_t errors, uint64_t cache_hits, uint64_t failures, int line)
{
	struct eddy_registry_counters now;

	eddy_registry_counters(&now);
	if (now.ok - was->ok != ok || now.not_found - was->not_found != not_found ||
	    now.errors - was->errors != errors || now.cache_hits - was->cache_hits != cache_hits ||
	    now.failures - was->failures != failures) {
		fprintf(stderr,
		        "%s:%d: counted ok %llu, not_found %llu, errors %llu, cache_hits %llu, "
		        "failures %llu; want %llu %llu %llu %llu %llu\n",
		        __FILE__, line, (unsigned long long)(now.ok - was->ok),
		        (unsigned long long)(now.not_found - was->not_found),
		        (unsigned long long)(now.errors - was->errors),
		        (unsigned long long)(now.cache_hits - was->cache_hits),
		        (unsigned long long)(now.failures - was->failures), (unsigned long long)ok,
		        (unsigned long long)not_found, (unsigned long long)errors,
		        (unsigned long long)cache_hits, (unsigned long long)failures);
		CHECK(!"registry counters");
	}
	*was = now;
}
#define COUNTED(was, ok, nf, errors, hits, failures)                                               \
	check_counted(was, ok, nf, errors, hits, failures, __LINE__)

static void test_conf(void)
{
	struct eddy_registry_conf conf = {0};

	CHECK(!eddy_registry_new(&conf, err, sizeof(err)));
	CHECK(strstr(err, "url") != NULL);
	conf.url = "ftp://example.com";
	CHECK(!eddy_registry_new(&conf, err, sizeof(err)));
	eddy_registry_destroy(NULL);
}

static void test_by_id(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 0);
	const struct eddy_registry_schema *s = NULL, *again = NULL;
	int before = requests("GET /schemas/ids/1");

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	if (s) {
		CHECK(s->id == 1);
		CHECK(s->type == EDDY_REGISTRY_JSON);
		CHECK(s->subject == NULL);
		CHECK(s->version == 0);
		CHECK_STR(s->schema,
		          "{\"properties\":{\"customer\":{\"$ref\":\"customer.json\"}}}");
		CHECK(s->len == strlen(s->schema));
		CHECK(s->n_refs == 1);
		if (s->n_refs == 1) {
			CHECK_STR(s->refs[0].name, "customer.json");
			CHECK_STR(s->refs[0].subject, "customer");
			CHECK(s->refs[0].version == 1);
		}
	}
	/* The cache: the second lookup is no request. */
	CHECK(eddy_registry_by_id(r, 1, &again, err, sizeof(err)) == 1);
	CHECK(again == s);
	CHECK(requests("GET /schemas/ids/1") == before + 1);

	CHECK(eddy_registry_by_id(r, 2, &s, err, sizeof(err)) == 1);
	CHECK(s && s->type == EDDY_REGISTRY_AVRO && s->n_refs == 0 && s->refs == NULL);
	CHECK_STR(s ? s->schema : NULL, "{\"type\":\"record\",\"name\":\"User\",\"fields\":[]}");
	/* A schema given as JSON in the fixture file comes as its text. */
	CHECK(eddy_registry_by_id(r, 3, &s, err, sizeof(err)) == 1);
	CHECK_STR(s ? s->schema : NULL, "{\"type\":\"object\"}");
	CHECK(eddy_registry_by_id(r, 7, &s, err, sizeof(err)) == 1);
	CHECK(s && s->type == EDDY_REGISTRY_PROTOBUF);
	eddy_registry_destroy(r);
}

static void test_by_subject(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 0);
	const struct eddy_registry_schema *s = NULL, *latest = NULL, *v2 = NULL;
	int ids = requests("GET /schemas/ids/1");
	int latests = requests("GET /subjects/orders-value/versions/latest");
	int v2s = requests("GET /subjects/orders-value/versions/2");

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_subject(r, "orders-value", "1", &s, err, sizeof(err)) == 1);
	if (s) {
		CHECK(s->id == 1);
		CHECK_STR(s->subject, "orders-value");
		CHECK(s->version == 1);
		CHECK(s->type == EDDY_REGISTRY_JSON);
		CHECK(s->n_refs == 1 && strcmp(s->refs[0].subject, "customer") == 0);
	}
	/* The answer filled the id cache too, with a schema as fetched by id. */
	CHECK(eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	CHECK(s && s->subject == NULL && s->version == 0 && s->id == 1);
	CHECK(requests("GET /schemas/ids/1") == ids);

	CHECK(eddy_registry_by_subject(r, "orders-value", "latest", &latest, err, sizeof(err)) ==
	      1);
	CHECK(latest && latest->id == 4 && latest->version == 2);
	CHECK_STR(latest ? latest->schema : NULL, "{\"required\":[\"id\"]}");
	CHECK(eddy_registry_by_subject(r, "orders-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(s == latest);
	/* "latest" answered version 2, which is cached as such. */
	CHECK(eddy_registry_by_subject(r, "orders-value", "2", &v2, err, sizeof(err)) == 1);
	CHECK(v2 == latest);
	CHECK(requests("GET /subjects/orders-value/versions/latest") == latests + 1);
	CHECK(requests("GET /subjects/orders-value/versions/2") == v2s);
	eddy_registry_destroy(r);
}

static void test_not_found(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 3);
	const struct eddy_registry_schema *s = NULL;
	int before = requests("GET /schemas/ids/99");

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_id(r, 99, &s, err, sizeof(err)) == 0);
	CHECK(strstr(err, "Schema 99 not found") && strstr(err, "40403"));
	/* Not cached and not retried: one request per lookup. */
	CHECK(eddy_registry_by_id(r, 99, &s, err, sizeof(err)) == 0);
	CHECK(requests("GET /schemas/ids/99") == before + 2);

	CHECK(eddy_registry_by_subject(r, "nope", "1", &s, err, sizeof(err)) == 0);
	CHECK(strstr(err, "Subject 'nope' not found.") && strstr(err, "40401"));
	CHECK(eddy_registry_by_subject(r, "nope", "latest", &s, err, sizeof(err)) == 0);
	CHECK(strstr(err, "40401") != NULL);
	CHECK(eddy_registry_by_subject(r, "orders-value", "9", &s, err, sizeof(err)) == 0);
	CHECK(strstr(err, "Version 9 not found.") && strstr(err, "40402"));
	CHECK(eddy_registry_by_subject(r, "orders-value", "x", &s, err, sizeof(err)) == 0);
	CHECK(strstr(err, "\"x\"") != NULL);
	CHECK(eddy_registry_by_subject(r, "orders-value", "0", &s, err, sizeof(err)) == 0);
	eddy_registry_destroy(r);
}

static void test_retries(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 2);
	const struct eddy_registry_schema *s = NULL;
	int two = requests("GET /schemas/ids/2"), three = requests("GET /schemas/ids/3");

	CHECK(r);
	if (!r)
		return;
	/* A 500 then a 200: the retry gets it. */
	CHECK(control(f, "fail?count=1&status=500&error_code=50001", NULL));
	CHECK(eddy_registry_by_id(r, 2, &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 2);
	CHECK(requests("GET /schemas/ids/2") == two + 2);

	/* Always 503: 1 + retries requests, then -1 with the registry's word. */
	CHECK(control(f, "fail?count=-1&status=503&error_code=50003", NULL));
	CHECK(eddy_registry_by_id(r, 3, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 503") && strstr(err, "50003") && strstr(err, "3 tries"));
	CHECK(requests("GET /schemas/ids/3") == three + 3);
	CHECK(control(f, "reset", NULL));
	CHECK(eddy_registry_by_id(r, 3, &s, err, sizeof(err)) == 1);
	eddy_registry_destroy(r);
}

/* Every request counted by how it ended, as the fixture's log saw it;
 * cache hits without a request; a failure once the retries are spent. */
static void test_counters(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 2);
	const struct eddy_registry_schema *s = NULL;
	struct eddy_registry_counters was;
	int ones = requests("GET /schemas/ids/1"), twos = requests("GET /schemas/ids/2"),
	    threes = requests("GET /schemas/ids/3");

	CHECK(r);
	if (!r)
		return;
	eddy_registry_counters(&was);
	CHECK(eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	CHECK(eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	CHECK(requests("GET /schemas/ids/1") == ones + 1);
	COUNTED(&was, 1, 0, 0, 1, 0);

	CHECK(eddy_registry_by_id(r, 99, &s, err, sizeof(err)) == 0);
	CHECK(eddy_registry_by_subject(r, "nope", "latest", &s, err, sizeof(err)) == 0);
	COUNTED(&was, 0, 2, 0, 0, 0);

	/* a 500, then the retry answers */
	CHECK(control(f, "fail?count=1&status=500&error_code=50001", NULL));
	CHECK(eddy_registry_by_id(r, 2, &s, err, sizeof(err)) == 1);
	CHECK(requests("GET /schemas/ids/2") == twos + 2);
	COUNTED(&was, 1, 0, 1, 0, 0);

	/* always 503: three tries, one failure, nothing cached */
	CHECK(control(f, "fail?count=-1&status=503&error_code=50003", NULL));
	CHECK(eddy_registry_by_id(r, 3, &s, err, sizeof(err)) == -1);
	CHECK(requests("GET /schemas/ids/3") == threes + 3);
	COUNTED(&was, 0, 0, 3, 0, 1);
	CHECK(control(f, "reset", NULL));

	/* "latest" and the version it answered: one request, then hits */
	CHECK(eddy_registry_by_subject(r, "orders-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(eddy_registry_by_subject(r, "orders-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(eddy_registry_by_subject(r, "orders-value", "2", &s, err, sizeof(err)) == 1);
	CHECK(eddy_registry_by_id(r, 4, &s, err, sizeof(err)) == 1);
	COUNTED(&was, 1, 0, 0, 3, 0);
	eddy_registry_destroy(r);
}

static void test_too_big(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 2);
	const struct eddy_registry_schema *s = NULL;
	int before = requests("GET /schemas/ids/6");

	CHECK(r);
	if (!r)
		return;
	/* An answer past the cap is refused, and asking again will not help. */
	CHECK(control(f, "big?bytes=17000000&count=1", NULL));
	CHECK(eddy_registry_by_id(r, 6, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "larger than") != NULL);
	CHECK(requests("GET /schemas/ids/6") == before + 1);
	CHECK(eddy_registry_by_id(r, 6, &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 6);
	eddy_registry_destroy(r);
}

static void test_refused(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	const struct eddy_registry_schema *s = NULL;
	struct eddy_registry *r;
	char url[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port the system just gave out and nobody listens on. */
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	r = client(url, 1);
	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "2 tries") != NULL);
	eddy_registry_destroy(r);
}

static void test_timeout(const struct fixture *f)
{
	struct eddy_registry_conf conf = {.url = f->url, .timeout_ms = 300};
	const struct eddy_registry_schema *s = NULL;
	struct eddy_registry *r = eddy_registry_new(&conf, err, sizeof(err));
	long long t0, took;

	CHECK(r);
	if (!r)
		return;
	CHECK(control(f, "delay?ms=2000&count=1", NULL));
	t0 = now_ms();
	CHECK(eddy_registry_by_id(r, 6, &s, err, sizeof(err)) == -1);
	took = now_ms() - t0;
	/* the timeout, not the server's 2 s (generous: a busy machine) */
	CHECK(took >= 250 && took < 1950);
	CHECK(strstr(err, "imeout") || strstr(err, "timed out"));
	/* The client is usable afterwards. */
	CHECK(eddy_registry_by_id(r, 6, &s, err, sizeof(err)) == 1);
	eddy_registry_destroy(r);
}

static void test_auth(void)
{
	struct fixture f = fixture_start("http", "--user", "key:s3cr:et", (char *)NULL);
	struct eddy_registry_conf conf = {.retries = 2, .backoff_ms = 10};
	const struct eddy_registry_schema *s = NULL;
	struct eddy_registry *r;
	int before;

	CHECK(f.port > 0);
	if (f.port <= 0)
		return;
	conf.url = f.url;
	conf.username = "key";
	conf.password = "s3cr:et";
	r = eddy_registry_new(&conf, err, sizeof(err));
	CHECK(r && eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	eddy_registry_destroy(r);

	/* Wrong secret: -1 (not "not found"), and no retry. */
	before = requests("GET /schemas/ids/2");
	conf.password = "wrong";
	r = eddy_registry_new(&conf, err, sizeof(err));
	CHECK(r && eddy_registry_by_id(r, 2, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 401") && strstr(err, "Unauthorized"));
	CHECK(requests("GET /schemas/ids/2") == before + 1);
	eddy_registry_destroy(r);

	conf.username = NULL;
	r = eddy_registry_new(&conf, err, sizeof(err));
	CHECK(r && eddy_registry_by_subject(r, "orders-value", "1", &s, err, sizeof(err)) == -1);
	eddy_registry_destroy(r);
	fixture_stop(&f);
}

/* Runs an openssl command line in dir, its output going to dir/openssl.log;
 * 0 when it exits 0. */
static int openssl(const char *args)
{
	char cmd[1024];
	int status;

	snprintf(cmd, sizeof(cmd), "cd %s && openssl %s >>openssl.log 2>&1", dir, args);
	status = system(cmd);
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A throwaway CA (ca.pem) and a certificate it signed for 127.0.0.1 as an IP
 * SAN (server.pem, server.key), in dir. 0 on success; otherwise the reason is
 * on stderr. */
static int make_certs(void)
{
	static const char ext[] = "basicConstraints = critical, CA:FALSE\n"
	                          "keyUsage = critical, digitalSignature\n"
	                          "extendedKeyUsage = serverAuth\n"
	                          "subjectAltName = IP:127.0.0.1\n";
	char path[64];
	FILE *out;

	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	snprintf(cert_path, sizeof(cert_path), "%s/server.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/server.key", dir);
	if (openssl("version") != 0) {
		fprintf(stderr, "test_registry: no openssl command line (Debian: openssl)\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/server.ext", dir);
	out = fopen(path, "w");
	if (!out || fputs(ext, out) < 0 || fclose(out) != 0) {
		perror(path);
		return -1;
	}
	if (openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	            "-keyout ca.key -out ca.pem -days 2 -subj /CN=eddy-test-ca "
	            "-addext basicConstraints=critical,CA:TRUE "
	            "-addext keyUsage=critical,keyCertSign,cRLSign") != 0 ||
	    openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	            "-keyout server.key -out server.csr -subj /CN=127.0.0.1") != 0 ||
	    openssl("x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 "
	            "-extfile server.ext -out server.pem") != 0) {
		char log[64], buf[256];
		FILE *in;

		snprintf(log, sizeof(log), "%s/openssl.log", dir);
		fprintf(stderr, "test_registry: openssl failed:\n");
		if ((in = fopen(log, "r"))) {
			while (fgets(buf, sizeof(buf), in))
				fputs(buf, stderr);
			fclose(in);
		}
		return -1;
	}
	return 0;
}

/* A client of url with TLS options, retrying twice with waits long enough
 * that a retry shows in the time a lookup takes. */
static struct eddy_registry *tls_client(const char *url, const char *ca, bool insecure)
{
	struct eddy_registry_conf conf = {.url = url,
	                                  .ca_location = ca,
	                                  .insecure_skip_verify = insecure,
	                                  .retries = 2,
	                                  .backoff_ms = 1000,
	                                  .timeout_ms = 2000};
	struct eddy_registry *r = eddy_registry_new(&conf, err, sizeof(err));

	if (!r)
		fprintf(stderr, "eddy_registry_new: %s\n", err);
	return r;
}

/* A lookup of id through r that must fail at once, without a retry, on a
 * certificate the client does not accept; err then contains want. */
static void check_refused_cert(struct eddy_registry *r, int id, const char *want)
{
	const struct eddy_registry_schema *s = NULL;

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_id(r, id, &s, err, sizeof(err)) == -1);
	if (!strstr(err, want))
		fprintf(stderr, "want \"%s\" in: %s\n", want, err);
	CHECK(strstr(err, want) != NULL);
	/* One try, no retries: no "(N tries)" in the reason. (Not timed: a
	 * busy machine makes one try as slow as several.) */
	CHECK(strstr(err, "tries") == NULL);
	eddy_registry_destroy(r);
}

static void test_tls(void)
{
	struct fixture f = {0};
	struct eddy_registry *r;
	const struct eddy_registry_schema *s = NULL;
	char url[96], missing[80];
	int threes = requests("GET /schemas/ids/3"), sevens = requests("GET /schemas/ids/7");
	int users = requests("GET /subjects/users-value/versions/1");
	long long t0;

	CHECK(make_certs() == 0);
	if (ca_path[0] && access(ca_path, R_OK) == 0)
		f = fixture_start("https", "--tls", cert_path, key_path, (char *)NULL);
	CHECK(f.port > 0);
	if (f.port <= 0)
		return;

	/* The CA given: lookups work. */
	r = tls_client(f.url, ca_path, false);
	CHECK(r && eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 1);
	CHECK(r && eddy_registry_by_subject(r, "users-value", "1", &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 2);
	CHECK(requests("GET /subjects/users-value/versions/1") == users + 1);
	eddy_registry_destroy(r);

	/* The system's CAs do not know the throwaway one: refused, and asking
	 * again cannot help. Nothing reached the registry. */
	check_refused_cert(tls_client(f.url, NULL, false), 3, "SSL certificate problem");
	CHECK(requests("GET /schemas/ids/3") == threes);
	/* The right CA, the wrong name: the certificate is for 127.0.0.1. */
	snprintf(url, sizeof(url), "https://localhost:%d", f.port);
	check_refused_cert(tls_client(url, ca_path, false), 3, "localhost");
	/* A CA file that is not there. */
	snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", dir);
	check_refused_cert(tls_client(f.url, missing, false), 3, "no-such-ca.pem");
	CHECK(requests("GET /schemas/ids/3") == threes);

	/* Not verifying accepts the unknown issuer and the wrong name alike. */
	r = tls_client(f.url, NULL, true);
	CHECK(r && eddy_registry_by_id(r, 3, &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 3);
	eddy_registry_destroy(r);
	r = tls_client(url, NULL, true);
	CHECK(r && eddy_registry_by_id(r, 6, &s, err, sizeof(err)) == 1);
	CHECK(s && s->id == 6);
	eddy_registry_destroy(r);
	CHECK(requests("GET /schemas/ids/3") == threes + 1);

	/* Plain HTTP to the TLS port: the server hangs up; a failure with a
	 * reason, well within the timeout. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
	r = client(url, 0);
	t0 = now_ms();
	CHECK(r && eddy_registry_by_id(r, 7, &s, err, sizeof(err)) == -1);
	CHECK(now_ms() - t0 < 1950); /* before the 2 s timeout */
	CHECK(strstr(err, "/schemas/ids/7") != NULL);
	CHECK(requests("GET /schemas/ids/7") == sevens);
	eddy_registry_destroy(r);
	fixture_stop(&f);
}

static void test_tls_to_plain(const struct fixture *f)
{
	char url[96];
	struct eddy_registry *r;
	const struct eddy_registry_schema *s = NULL;
	long long t0 = now_ms();

	/* https:// to a plain HTTP server: no handshake, a failure with a
	 * reason, well within the timeout. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", f->port);
	r = client(url, 0);
	CHECK(r && eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == -1);
	CHECK(now_ms() - t0 < 1950); /* before the 2 s timeout */
	CHECK(err[0] != '\0');
	eddy_registry_destroy(r);
}

static void test_latest_ttl(const struct fixture *f)
{
	struct eddy_registry_conf conf = {
	    .url = f->url, .retries = 1, .backoff_ms = 10, .latest_ttl_ms = 300};
	struct eddy_registry *r = eddy_registry_new(&conf, err, sizeof(err));
	const struct eddy_registry_schema *v1 = NULL, *s = NULL;
	struct eddy_registry_counters was;
	const char *line = "GET /subjects/ttl-value/versions/latest";
	int before = requests(line);

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_subject(r, "ttl-value", "latest", &v1, err, sizeof(err)) == 1);
	CHECK(v1 && v1->version == 1 && v1->id == 6);
	CHECK(control(f, "schemas",
	              "{\"8\": {\"subject\": \"ttl-value\", \"version\": 2, \"schemaType\": "
	              "\"JSON\", \"schema\": {\"const\": 2}}}"));
	/* Within the TTL: the cached one, no request. */
	CHECK(eddy_registry_by_subject(r, "ttl-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(s == v1);
	CHECK(requests(line) == before + 1);

	/* Past it: asked again, the new version. The TTL passing is what is
	 * tested, so this waits for a time (the TTL and a margin). */
	sleep_ms(400);
	CHECK(eddy_registry_by_subject(r, "ttl-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(s && s->version == 2 && s->id == 8);
	CHECK_STR(s ? s->schema : NULL, "{\"const\":2}");
	CHECK(requests(line) == before + 2);
	/* What was handed out before stays valid. */
	CHECK(v1->version == 1);
	CHECK_STR(v1->schema, "{\"const\":1}");

	/* A refresh that fails keeps the cached one, and does not ask again
	 * on the next call. Past the TTL again, for a refresh to be due. */
	sleep_ms(400);
	CHECK(control(f, "fail?count=-1&status=500&error_code=50001", NULL));
	v1 = s;
	eddy_registry_counters(&was);
	CHECK(eddy_registry_by_subject(r, "ttl-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(s == v1);
	CHECK(requests(line) == before + 4);
	/* the registry did not answer: a failure, though the cached one served */
	COUNTED(&was, 0, 0, 2, 0, 1);
	CHECK(eddy_registry_by_subject(r, "ttl-value", "latest", &s, err, sizeof(err)) == 1);
	CHECK(s == v1);
	CHECK(requests(line) == before + 4);
	COUNTED(&was, 0, 0, 0, 1, 0);
	CHECK(control(f, "reset", NULL));

	/* A number is cached forever. */
	CHECK(eddy_registry_by_subject(r, "ttl-value", "1", &s, err, sizeof(err)) == 1);
	CHECK(s && s->version == 1);
	eddy_registry_destroy(r);
}

static void test_special_subject(const struct fixture *f)
{
	struct eddy_registry *r = client(f->url, 0);
	const struct eddy_registry_schema *s = NULL;
	const char *line = "GET /subjects/com.example%2Forders%20v1%2B%3F%26%23%25/versions/1";
	int before = requests(line);

	CHECK(r);
	if (!r)
		return;
	CHECK(eddy_registry_by_subject(r, "com.example/orders v1+?&#%", "1", &s, err,
	                               sizeof(err)) == 1);
	CHECK(s && s->id == 5);
	CHECK_STR(s ? s->subject : NULL, "com.example/orders v1+?&#%");
	CHECK(requests(line) == before + 1);
	eddy_registry_destroy(r);
}

static void test_wrong_path(const struct fixture *f)
{
	char url[128];
	struct eddy_registry *r;
	const struct eddy_registry_schema *s = NULL;

	/* A 404 without a registry error code is a wrong URL: a failure, so
	 * events wait instead of being judged. */
	snprintf(url, sizeof(url), "%s/nope/", f->url);
	r = client(url, 2);
	CHECK(r && eddy_registry_by_id(r, 1, &s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 404") != NULL);
	CHECK(requests("GET /nope/schemas/ids/1") == 1);
	eddy_registry_destroy(r);
}

/* Removes dir and the files in it. */
static void remove_dir(void)
{
	char path[320];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int main(void)
{
	struct fixture f;
	FILE *out;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(schemas_path, sizeof(schemas_path), "%s/schemas.json", dir);
	snprintf(log_path, sizeof(log_path), "%s/requests.log", dir);
	out = fopen(schemas_path, "w");
	if (!out || fputs(schemas_json, out) < 0 || fclose(out) != 0) {
		perror(schemas_path);
		return 1;
	}
	f = fixture_start("http", (char *)NULL);
	CHECK(f.port > 0);
	if (f.port > 0) {
		test_conf();
		test_by_id(&f);
		test_by_subject(&f);
		test_not_found(&f);
		test_retries(&f);
		test_counters(&f);
		test_too_big(&f);
		test_refused();
		test_timeout(&f);
		test_latest_ttl(&f);
		test_special_subject(&f);
		test_wrong_path(&f);
		test_tls_to_plain(&f);
		test_auth();
		test_tls();
	}
	fixture_stop(&f);
	remove_dir();
	return test_report("test_registry");
}
