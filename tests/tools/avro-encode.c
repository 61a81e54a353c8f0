/* avro-encode - test tool: JSON lines in, Avro records out, framed the way
 * Confluent serializers frame them and delimited for `kcat -P -D`, so that
 * specs can put Avro values on a topic.
 *
 *   avro-encode [-K] [-D DELIM] SCHEMA.avsc ID|raw < lines > records
 *
 * Each non-blank line of standard input is one JSON value of the schema
 * (with -K: KEY<TAB>JSON, the key written before the value as KEY<TAB>).
 * Each becomes [KEY<TAB>]VALUE DELIM on standard output, where VALUE is the
 * byte 0x00, the schema ID as 4 bytes big-endian and the Avro datum (with
 * "raw" instead of an ID: the datum alone). DELIM is written in kcat's
 * notation (\xNN, \n, \t) and defaults to \xff~eddy-avro~\xff: 0xff never
 * occurs in UTF-8 text, and a record whose bytes contain the delimiter
 * anyway is an error, never a silently split message. Produce with
 *
 *   kcat -P -b ADDR -t TOPIC -D '\xff~eddy-avro~\xff' -l records
 *   kcat -P -b ADDR -t TOPIC -K '\t' -D '\xff~eddy-avro~\xff' -l records  (-K)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/avro.h"
#include "avro_encode.h"
#include "readfile.h"

#define DEFAULT_DELIM "\\xff~eddy-avro~\\xff"

static void usage(void)
{
	fprintf(stderr,
	        "usage: avro-encode [-K] [-D DELIM] SCHEMA.avsc ID|raw < lines > records\n"
	        "  DELIM in kcat's notation (\\xNN, \\n, \\t), default '" DEFAULT_DELIM
	        "'; produce with\n"
	        "  kcat -P -b ADDR -t TOPIC [-K '\\t'] -D '" DEFAULT_DELIM "' -l records\n");
}

/* A delimiter in kcat's notation into the bytes kcat makes of it: \n,
 * \t, and \x followed by hex digits, all of them read and the last byte
 * kept (so "\xffE" is 0xfe: put no hex digit after \xNN). kcat keeps it as
 * a C string, so no NUL. The length, or -1. */
static long unescape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	while (*s) {
		char c = *s++;

		if (c == '\\') {
			char *end;

			if (*s == 'n') {
				c = '\n';
				s++;
			} else if (*s == 't') {
				c = '\t';
				s++;
			} else if (*s == 'x') {
				c = (char)(strtoul(s + 1, &end, 16) & 0xff);
				if (end == s + 1 || !c)
					return -1;
				s = end;
			} else {
				return -1;
			}
		}
		if (n == size)
			return -1;
		out[n++] = c;
	}
	return n ? (long)n : -1;
}

static int contains(const unsigned char *hay, size_t n, const char *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *delim_arg = DEFAULT_DELIM;
	char delim[64], err[512], *schema_text, *line = NULL, *end;
	long delim_len;
	int keyed = 0, raw, rc = 1, i = 1;
	unsigned long id = 0;
	size_t schema_len, cap = 0, lineno = 0;
	ssize_t n;
	struct eddy_avro_schema *schema;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "-K") == 0) {
			keyed = 1;
		} else if (strcmp(argv[i], "-D") == 0 && i + 1 < argc) {
			delim_arg = argv[++i];
		} else {
			usage();
			return 2;
		}
	}
	if (argc - i != 2) {
		usage();
		return 2;
	}
	delim_len = unescape(delim_arg, delim, sizeof(delim));
	if (delim_len < 0) {
		fprintf(stderr, "avro-encode: bad delimiter '%s'\n", delim_arg);
		return 2;
	}
	raw = strcmp(argv[i + 1], "raw") == 0;
	if (!raw) {
		errno = 0;
		id = strtoul(argv[i + 1], &end, 10);
		if (errno || *end || !argv[i + 1][0] || id > UINT32_MAX) {
			fprintf(stderr, "avro-encode: schema ID '%s' is not a number up to %lu\n",
			        argv[i + 1], (unsigned long)UINT32_MAX);
			return 2;
		}
	}
	schema_text = eddy_read_file(argv[i], &schema_len, err, sizeof(err));
	if (!schema_text) {
		fprintf(stderr, "avro-encode: %s\n", err);
		return 1;
	}
	schema = eddy_avro_schema_parse(schema_text, schema_len, err, sizeof(err));
	free(schema_text);
	if (!schema) {
		fprintf(stderr, "avro-encode: %s: %s\n", argv[i], err);
		return 1;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		const char *json = line, *tab;
		size_t len = (size_t)n, key_len = 0, datum_len;
		unsigned char *value;
		void *datum;

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (!len)
			continue;
		if (keyed) {
			tab = memchr(line, '\t', len);
			if (!tab) {
				fprintf(stderr,
				        "avro-encode: line %zu: no KEY<TAB> before the JSON\n",
				        lineno);
				goto out;
			}
			key_len = (size_t)(tab - line);
			json = tab + 1;
			len -= key_len + 1;
		}
		if (eddy_avro_from_json(schema, json, len, &datum, &datum_len, err, sizeof(err))) {
			fprintf(stderr, "avro-encode: line %zu: %s\n", lineno, err);
			goto out;
		}
		value = malloc(datum_len + 5);
		if (!value) {
			free(datum);
			fprintf(stderr, "avro-encode: out of memory\n");
			goto out;
		}
		/* Confluent's wire format: magic byte 0, then the ID big-endian. */
		value[0] = 0;
		value[1] = (unsigned char)(id >> 24);
		value[2] = (unsigned char)(id >> 16);
		value[3] = (unsigned char)(id >> 8);
		value[4] = (unsigned char)id;
		memcpy(value + 5, datum, datum_len);
		free(datum);
		if (raw) {
			memmove(value, value + 5, datum_len);
		} else {
			datum_len += 5;
		}
		/* kcat splits at the first delimiter it sees, and an empty
		 * value would be skipped: either would change the records. */
		if (contains(value, datum_len, delim, (size_t)delim_len) ||
		    (keyed &&
		     contains((const unsigned char *)line, key_len, delim, (size_t)delim_len))) {
			fprintf(stderr,
			        "avro-encode: line %zu: the record contains the delimiter; "
			        "choose another with -D\n",
			        lineno);
			free(value);
			goto out;
		}
		if (!datum_len) {
			fprintf(stderr,
			        "avro-encode: line %zu: the datum is empty, which kcat "
			        "would not send; frame it with an ID\n",
			        lineno);
			free(value);
			goto out;
		}
		if ((keyed &&
		     (fwrite(line, 1, key_len, stdout) != key_len || putchar('\t') == EOF)) ||
		    fwrite(value, 1, datum_len, stdout) != datum_len ||
		    fwrite(delim, 1, (size_t)delim_len, stdout) != (size_t)delim_len) {
			fprintf(stderr, "avro-encode: write: %s\n", strerror(errno));
			free(value);
			goto out;
		}
		free(value);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "avro-encode: write: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	eddy_avro_schema_free(schema);
	return rc;
}
