/* fuzz_record.c - a record through the whole pipeline as `eddy replay`
 * takes it (fuzz_input.h: a structured value, or binary mode's ce_ headers
 * and data): the wire-format frame with its schema from a registry (a
 * libmicrohttpd server in this process: id 1 a JSON Schema of the whole
 * CloudEvent, id 2 an Avro schema of the data, id 3 a JSON Schema of the
 * data; other ids and subjects are not found), the envelope, the data's
 * schema (formats asserted), the ev a handler gets, what it writes back
 * (json round trips, ctx.upsert, ctx.get) and the SQLite store. Each record
 * is rolled back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "config.h"
#include "fuzz_input.h"
#include "log.h"
#include "pipeline.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct eddy_pipeline *pipeline;
static struct eddy_config *conf;
static struct MHD_Daemon *registry;

static const char handler[] =
    "return {\n"
    "  on_event = function(ev, ctx)\n"
    "    if ev.deleted then return ctx.delete('orders', ev.key) end\n"
    "    local d = ev.data\n"
    "    local text = json.encode(d)\n"
    "    json.decode(text)\n"
    "    if type(d) == 'table' then\n"
    "      for k, v in pairs(d) do if type(v) == 'table' then json.encode(v) end end\n"
    "    end\n"
    "    ctx.upsert('orders', ev.key, d)\n"
    "    ctx.get('orders', ev.key)\n"
    "  end,\n"
    "}\n";

/* The registry's answers: GET /schemas/ids/N. */
static const char *const schemas[] = {
    NULL,
    "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\",\\\"required\\\":"
    "[\\\"specversion\\\",\\\"id\\\",\\\"type\\\"],\\\"properties\\\":{\\\"data\\\":{"
    "\\\"type\\\":\\\"object\\\",\\\"properties\\\":{\\\"quantity\\\":{\\\"type\\\":"
    "\\\"number\\\",\\\"minimum\\\":0}}}}}\"}",
    "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"OrderProposal\\\","
    "\\\"namespace\\\":\\\"com.e"
    "xample\\\",\\\"fields\\\":[{\\\"name\\\":\\\"order_id\\\",\\\"type\\\":\\\"string\\\"},{"
    "\\\"name\\\":\\\"qua"
    "ntity\\\",\\\"type\\\":\\\"double\\\"},{\\\"name\\\":\\\"lines\\\",\\\"type\\\":{\\\"type\\\":"
    "\\\"array\\\",\\\""
    "items\\\":{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"Line\\\",\\\"fields\\\":[{"
    "\\\"name\\\":\\\"sku\\\",\\\"t"
    "ype\\\":\\\"string\\\"},{\\\"name\\\":\\\"qty\\\",\\\"type\\\":\\\"long\\\"}]}}},{"
    "\\\"name\\\":\\\"status\\\","
    "\\\"type\\\":{\\\"type\\\":\\\"enum\\\",\\\"name\\\":\\\"Status\\\",\\\"symbols\\\":["
    "\\\"proposed\\\",\\\"acce"
    "pted\\\",\\\"rejected\\\"]}},{\\\"name\\\":\\\"note\\\",\\\"type\\\":[\\\"null\\\","
    "\\\"string\\\"],\\\"defau"
    "lt\\\":null},{\\\"name\\\":\\\"attrs\\\",\\\"type\\\":{\\\"type\\\":\\\"map\\\","
    "\\\"values\\\":\\\"int\\\"}},{"
    "\\\"name\\\":\\\"delivery\\\",\\\"type\\\":{\\\"type\\\":\\\"int\\\",\\\"logicalType\\\":"
    "\\\"date\\\"}},{\\\"n"
    "ame\\\":\\\"at\\\",\\\"type\\\":{\\\"type\\\":\\\"long\\\",\\\"logicalType\\\":\\\"timestamp-"
    "millis\\\"}},"
    "{\\\"name\\\":\\\"price\\\",\\\"type\\\":{\\\"type\\\":\\\"bytes\\\",\\\"logicalType\\\":"
    "\\\"decimal\\\",\\\"p"
    "recision\\\":9,\\\"scale\\\":2}},{\\\"name\\\":\\\"hash\\\",\\\"type\\\":{\\\"type\\\":"
    "\\\"fixed\\\",\\\"nam"
    "e\\\":\\\"H\\\",\\\"size\\\":4}}]}\"}",
    "{\"schemaType\":\"JSON\",\"schema\":\"{\\\"type\\\":\\\"object\\\",\\\"properties\\\":{"
    "\\\"order_id\\\":{\\\"type\\\":\\\"string\\\",\\\"pattern\\\":\\\"^ORD-\\\"}}}\"}",
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	static const char not_found[] = "{\"error_code\":40403,\"message\":\"Schema not found\"}";
	const char *body = not_found;
	unsigned status = MHD_HTTP_NOT_FOUND;
	int id;
	char rest;
	if (sscanf(url, "/schemas/ids/%d%c", &id, &rest) == 1 && id >= 1 &&
	    id < (int)(sizeof schemas / sizeof schemas[0])) {
		body = schemas[id];
		status = MHD_HTTP_OK;
	}
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/vnd.schemaregistry.v1+json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* At exit, before LeakSanitizer looks (its own handler was registered
 * first): what lives for the whole run is not a leak. */
static void destroy(void)
{
	eddy_pipeline_destroy(pipeline);
	eddy_config_destroy(conf);
	MHD_stop_daemon(registry);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char dir[] = "/tmp/eddy-fuzz-record.XXXXXX";
	char path[512], yaml[2048], err[1024];

	eddy_log_setup(getenv("FUZZ_LOG") ? getenv("FUZZ_LOG") : "error", "text");
	struct sockaddr_in loopback = {.sin_family = AF_INET,
	                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	registry = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, NULL,
	                            MHD_OPTION_SOCK_ADDR, &loopback, MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
	    registry ? MHD_get_daemon_info(registry, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (!info || !mkdtemp(dir))
		abort();
	snprintf(path, sizeof path, "%s/handlers", dir);
	if (mkdir(path, 0700) != 0)
		abort();
	snprintf(path, sizeof path, "%s/handlers/orders.lua", dir);
	if (write_file(path, handler) != 0)
		abort();
	snprintf(yaml, sizeof yaml,
	         "kafka: { bootstrap.servers: 127.0.0.1:1, group.id: fuzz }\n"
	         "topics: [orders]\n"
	         "handlers: %s/handlers\n"
	         "store: { type: sqlite, path: %s/state.db }\n"
	         "dead_letter: { topic: dlq }\n"
	         "envelope: { require_key_equals_id: false, require_tenant: true }\n"
	         "schemas:\n"
	         "  dir: %s/conf/schemas\n"
	         "  format_assert: true\n"
	         "  types: { \"com.relexsolutions.supply-chain.*\": order-proposal.schema.json }\n"
	         "registry: { url: \"http://127.0.0.1:%u\", timeout_ms: 1000, retries: 0 }\n"
	         "handler: { retries: 0, cpu_limit_ms: 200, memory_limit_mb: 64 }\n"
	         "log: { level: %s, format: text }\n"
	         "http: { listen: \"\" }\n",
	         dir, dir, EDDY_SOURCE_DIR, (unsigned)info->port,
	         getenv("FUZZ_LOG") ? getenv("FUZZ_LOG") : "error");
	conf = eddy_config_load_string("fuzz.yaml", yaml, NULL, err, sizeof err);
	if (!conf || !(pipeline = eddy_pipeline_new(conf, &(struct eddy_pipeline_opts){0}, err,
	                                            sizeof err))) {
		fprintf(stderr, "fuzz_record: %s\n", err);
		abort();
	}
	atexit(destroy);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct fuzz_record r;
	fuzz_record_read(&r, data, size);
	if (eddy_pipeline_begin(pipeline, err, sizeof err) != 0)
		abort();
	eddy_pipeline_handle(pipeline, &r.msg);
	eddy_pipeline_abort(pipeline);
	return 0;
}
