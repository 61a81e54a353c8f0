/* test_format.c - eddy_format_check: the JSON Schema Test Suite's format
 * files, cases of the 2020-12 suite the installed draft 7 lacks, edges, and
 * the validator passing every non-string instance through a format. */
#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "schema/jsonschema.h"
#include "schema/jsonschema_format.h"
#include "test.h"

#define SUITE_FORMATS "/usr/share/json-schema-test-suite/tests/draft7/optional/format/*.json"

/* Formats eddy checks more loosely than their RFCs (RFC 3987 host rules):
 * their suite failures are shown, not counted. */
static bool loose(const char *format)
{
	return !strncmp(format, "iri", 3);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Runs every {"format": X} group of one suite file on its string data and
 * prints "format: passed/cases". */
static void run_suite_file(struct eddy_json_doc *doc, const char *path)
{
	char err[256];
	size_t len, cases = 0, passed = 0;
	const char *format = NULL;
	char *text = slurp(path, &len);
	const struct eddy_json *root =
	    text ? eddy_json_parse(doc, text, len, err, sizeof err) : NULL;
	CHECK(root && root->type == EDDY_JSON_ARRAY);
	if (!root)
		fprintf(stderr, "%s: %s\n", path, text ? err : "cannot read");
	for (uint32_t g = 0; root && g < root->len; g++) {
		const struct eddy_json *group = &root->u.items[g];
		const struct eddy_json *schema = eddy_json_getz(group, "schema");
		const struct eddy_json *tests = eddy_json_getz(group, "tests");
		format = eddy_json_str(eddy_json_getz(schema, "format"));
		if (!format || !tests || schema->len != 1)
			continue;
		for (uint32_t k = 0; k < tests->len; k++) {
			const struct eddy_json *t = &tests->u.items[k];
			const struct eddy_json *data = eddy_json_getz(t, "data");
			const struct eddy_json *valid = eddy_json_getz(t, "valid");
			if (!data || data->type != EDDY_JSON_STRING || !valid)
				continue;
			int rc = eddy_format_check(format, data->u.s, data->len);
			bool got = rc != 0, want = valid->type == EDDY_JSON_TRUE;
			cases++;
			if (got == want) {
				passed++;
				continue;
			}
			if (!loose(format))
				CHECK(got == want);
			fprintf(stderr, "%s%s \"%s\" (%s): got %s (%d)\n",
			        loose(format) ? "[loose] " : "", format, data->u.s,
			        eddy_json_str(eddy_json_getz(t, "description")),
			        got ? "valid" : "invalid", rc);
		}
	}
	printf("  %-22s %3zu/%zu\n", format ? format : path, passed, cases);
	CHECK(cases > 0);
	free(text);
}

static void test_suite(void)
{
	glob_t files;
	struct eddy_json_doc *doc = eddy_json_doc_new();
	CHECK(doc != NULL);
	CHECK(glob(SUITE_FORMATS, 0, NULL, &files) == 0);
	CHECK(files.gl_pathc >= 17);
	printf("suite (%s), passed/cases:\n", SUITE_FORMATS);
	for (size_t i = 0; doc && i < files.gl_pathc; i++)
		run_suite_file(doc, files.gl_pathv[i]);
	globfree(&files);
	eddy_json_doc_destroy(doc);
}

struct hand_case {
	const char *format;
	const char *s;
	int want; /* 1 valid, 0 invalid */
};

/* From the 2020-12 suite (which adds duration and uuid and more cases for
 * the others) and from the RFCs' own examples. */
static const struct hand_case cases[] = {
    /* RFC 3339 Appendix A durations */
    {"duration", "P4DT12H30M5S", 1},
    {"duration", "P4Y", 1},
    {"duration", "PT0S", 1},
    {"duration", "P0D", 1},
    {"duration", "P1M", 1},
    {"duration", "PT1M", 1},
    {"duration", "PT36H", 1},
    {"duration", "P1DT12H", 1},
    {"duration", "P2W", 1},
    {"duration", "P1Y2M3DT4H5M6S", 1},
    {"duration", "P1M3D", 1},
    {"duration", "PT1H2M", 1},
    {"duration", "PT2M3S", 1},
    {"duration", "P1Y2M", 1},
    {"duration", "P10000Y", 1},
    {"duration", "PT1D", 0},
    {"duration", "P", 0},
    {"duration", "P1YT", 0},
    {"duration", "PT", 0},
    {"duration", "P2D1Y", 0},
    {"duration", "P1D2H", 0},
    {"duration", "P2S", 0},
    {"duration", "P1Y2W", 0},
    {"duration", "P2WT1H", 0},
    {"duration", "P1W1D", 0},
    {"duration", "P\xe0\xa7\xa8Y", 0}, /* Bengali 2 */
    {"duration", "P1", 0},
    {"duration", "1Y", 0},
    {"duration", "p1Y", 0},
    {"duration", "P1y", 0},
    {"duration", "P1.5Y", 0},
    {"duration", "PT1.5S", 0},
    {"duration", "P-1D", 0},
    {"duration", "P1Y1Y", 0},
    {"duration", "P1Y3D", 0},  /* the ABNF has no gaps: dur-year [dur-month] */
    {"duration", "PT1H3S", 0}, /* nor here: dur-hour [dur-minute] */
    {"duration", "PT1H1M1S1S", 0},
    {"duration", "P1DT", 0},
    {"duration", "P1D ", 0},
    {"duration", " P1D", 0},
    {"duration", "PTT1H", 0},
    {"duration", "PW", 0},
    {"duration", "P1WT", 0},

    /* RFC 4122 */
    {"uuid", "2EB8AA08-AA98-11EA-B4AA-73B441D16380", 1},
    {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", 1},
    {"uuid", "2eb8aa08-AA98-11ea-B4Aa-73B441D16380", 1},
    {"uuid", "00000000-0000-0000-0000-000000000000", 1},
    {"uuid", "98d80576-482e-427f-8434-7f86890ab222", 1},
    {"uuid", "99c17cbb-656f-564a-940f-1a4568f03487", 1},
    {"uuid", "99c17cbb-656f-664a-940f-1a4568f03487", 1},
    {"uuid", "99c17cbb-656f-f64a-940f-1a4568f03487", 1},
    {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", 0},
    {"uuid", "2eb8aa08-aa98-11ea-73b441d16380", 0},
    {"uuid", "2eb8aa08-aa98-11ea-b4ga-73b441d16380", 0},
    {"uuid", "2eb8aa08aa9811eab4aa73b441d16380", 0},
    {"uuid", "2eb8aa08aa98-11ea-b4aa73b441d16380", 0},
    {"uuid", "2eb8-aa08-aa98-11ea-b4aa73b44-1d16380", 0},
    {"uuid", "2eb8aa08aa9811eab4aa73b441d16380----", 0},
    {"uuid", "2eb8aa08-aa9811eab-4aa7-3b441d16380", 0},
    {"uuid", "{2eb8aa08-aa98-11ea-b4aa-73b441d16380}", 0},
    {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380 ", 0},

    /* date: month lengths and leap years */
    {"date", "2020-01-31", 1},
    {"date", "2021-02-28", 1},
    {"date", "2020-02-29", 1},
    {"date", "2000-02-29", 1},
    {"date", "2020-03-31", 1},
    {"date", "2020-04-30", 1},
    {"date", "2020-12-31", 1},
    {"date", "0000-01-01", 1},
    {"date", "2020-01-32", 0},
    {"date", "2021-02-29", 0},
    {"date", "1900-02-29", 0},
    {"date", "2020-02-30", 0},
    {"date", "2020-04-31", 0},
    {"date", "2020-06-31", 0},
    {"date", "2020-09-31", 0},
    {"date", "2020-11-31", 0},
    {"date", "2020-13-01", 0},
    {"date", "2020-00-01", 0},
    {"date", "2020-01-00", 0},
    {"date", "1998-1-20", 0},
    {"date", "1998-01-1", 0},
    {"date", "998-01-01", 0},
    {"date", "1998-13-01", 0},
    {"date", "1963-06-1\xe0\xa7\xaa", 0}, /* Bengali 4 */
    {"date", "20230328", 0},
    {"date", "2023-W01", 0},
    {"date", "2023-W13-2", 0},
    {"date", "2022W527", 0},
    {"date", "2020-01-01T00:00:00Z", 0},
    {"date", "2020-01-01 ", 0},
    {"date", "+2020-01-01", 0},

    /* time: offsets and leap seconds */
    {"time", "08:30:06Z", 1},
    {"time", "08:30:06z", 1},
    {"time", "08:30:06.283185Z", 1},
    {"time", "08:30:06+00:20", 1},
    {"time", "08:30:06-08:00", 1},
    {"time", "23:59:60Z", 1},
    {"time", "23:59:60+00:00", 1},
    {"time", "01:29:60+01:30", 1},
    {"time", "23:29:60+23:30", 1},
    {"time", "15:59:60-08:00", 1},
    {"time", "00:29:60-23:30", 1},
    {"time", "23:59:60.5Z", 1},
    {"time", "22:59:60Z", 0},
    {"time", "23:58:60Z", 0},
    {"time", "22:59:60+00:00", 0},
    {"time", "23:59:60+01:00", 0},
    {"time", "23:59:60+00:30", 0},
    {"time", "23:59:60-01:00", 0},
    {"time", "23:59:61Z", 0},
    {"time", "24:00:00Z", 0},
    {"time", "00:60:00Z", 0},
    {"time", "01:02:03+24:00", 0},
    {"time", "01:02:03+00:60", 0},
    {"time", "01:02:03Z+00:30", 0},
    {"time", "08:30:06 PST", 0},
    {"time", "01:01:01,1111", 0},
    {"time", "12:00:00", 0},
    {"time", "12:00:00.Z", 0},
    {"time", "12:00:00+0100", 0},
    {"time", "12:00:00+01", 0},
    {"time", "1:00:00Z", 0},
    {"time", "12:0:00Z", 0},
    {"time", "12:00:0Z", 0},
    {"time", "12:00:00ZZ", 0},
    {"time",
     "\xe0\xa7\xa8"
     "2:00:00Z",
     0},

    /* date-time */
    {"date-time", "1963-06-19T08:30:06.283185Z", 1},
    {"date-time", "1998-12-31T23:59:60Z", 1},
    {"date-time", "1998-12-31T15:59:60.123-08:00", 1},
    {"date-time", "2020-02-29t00:00:00z", 1},
    {"date-time", "1998-12-31T23:58:60Z", 0},
    {"date-time", "1998-12-31T22:59:60Z", 0},
    {"date-time", "1990-02-31T15:59:59.123-08:00", 0},
    {"date-time", "1990-12-31T15:59:59-24:00", 0},
    {"date-time", "1963-06-19 08:30:06Z", 0},
    {"date-time", "1963-06-19T08:30:06", 0},
    {"date-time", "1963-06-19T", 0},
    {"date-time", "1963-06-19", 0},
    {"date-time", "1963-06-1\xe0\xa7\xaaT00:00:00Z", 0},
    {"date-time", "1963-06-11T0\xe0\xa7\xaa:00:00Z", 0},

    /* email */
    {"email", "joe.bloggs@example.com", 1},
    {"email", "te~st@example.com", 1},
    {"email", "~test@example.com", 1},
    {"email", "test~@example.com", 1},
    {"email", "\"joe bloggs\"@example.com", 1},
    {"email", "\"joe..bloggs\"@example.com", 1},
    {"email", "\"a\\\"b\"@example.com", 1},
    {"email", "joe.bloggs@[127.0.0.1]", 1},
    {"email", "joe.bloggs@[IPv6:::1]", 1},
    {"email", "joe.bloggs@[IPv6:2001:db8::1]", 1},
    {"email", "joe.bloggs@[ipv6:2001:db8::1]", 1}, /* the tag is case-insensitive */
    {"email", "joe.bloggs@[IPv7:2001:db8::1]", 0},
    {"email", "joe@xn--a.example", 0},
    {"email", "joe@localhost", 1},
    {"email", "a!#$%&'*+-/=?^_`{|}~@example.com", 1},
    {"email", ".test@example.com", 0},
    {"email", "test.@example.com", 0},
    {"email", "te.s.t@example.com", 1},
    {"email", "te..st@example.com", 0},
    {"email", "joe.bloggs@invalid=domain.com", 0},
    {"email", "joe.bloggs@[127.0.0.300]", 0},
    {"email", "joe.bloggs@[::1]", 0},
    {"email", "joe.bloggs@[IPv6:::g]", 0},
    {"email", "2962", 0},
    {"email", "@example.com", 0},
    {"email", "joe@", 0},
    {"email", "joe@@example.com", 0},
    {"email", "jo e@example.com", 0},
    {"email", "joe@example.com.", 0},
    {"email", "joe@-example.com", 0},
    {"email", "\"joe@example.com", 0},
    {"email",
     "j\xc3\xb6"
     "e@example.com",
     0},

    /* hostname: RFC 1123 LDH labels */
    {"hostname", "www.example.com", 1},
    {"hostname", "xn--4gbwdl.xn--wgbh1c", 1},
    {"hostname", "hostname", 1},
    {"hostname", "host-name", 1},
    {"hostname", "h0stn4me", 1},
    {"hostname", "hostnam3", 1},
    {"hostname", "1host", 1},
    {"hostname", "WWW.Example.COM", 1},
    {"hostname", "a--b.example", 1}, /* "--" elsewhere than third and fourth */
    {"hostname", "example.com.", 0}, /* DNS's absolute form is no host name */
    {"hostname", "", 0},
    {"hostname", ".", 0},
    {"hostname", "..", 0},
    {"hostname", ".example.com", 0},
    {"hostname", "example..com", 0},
    {"hostname", "-hostname", 0},
    {"hostname", "hostname-", 0},
    {"hostname", "_hostname", 0},
    {"hostname", "host_name", 0},
    {"hostname", "host name", 0},
    {"hostname", "a.-b.c", 0},
    {"hostname", "a.b-.c", 0},
    {"hostname", "ex\xc3\xa4mple.com", 0},
    {"hostname", "example\u3002com", 0}, /* IDNA dots are for idn-hostname */
    /* hostname: R-LDH labels must be A-labels, checked by decoding them */
    {"hostname", "ab--cd.example", 0},
    {"hostname", "xn--bcher-kva.example", 1},
    {"hostname", "XN--BCHER-KVA.example", 1}, /* case blind, as DNS */
    {"hostname", "xn--a", 0},                 /* not Punycode */
    {"hostname", "xn--uber-vwc", 0},          /* "u\u0308ber": not NFC */
    {"hostname", "xn--ber-ska", 0},           /* "\u00dcber": upper case */
    {"hostname", "xn--a-r6t", 0},             /* U+302E first: a combining mark */
    {"hostname", "xn--aaa-o43b", 0},          /* U+3031: DISALLOWED */
    {"hostname", "xn--parallel-koa", 1},      /* "paral\u00b7lel" */
    {"hostname", "xn--ab-0ea", 0},            /* "a\u00b7b": MIDDLE DOT between l's only */
    {"hostname", "xn--wva2m2a", 1},           /* "\u03c9\u0375\u03bf" */
    {"hostname", "xn--x-jib5w", 0},           /* KERAIA before a Latin letter */
    {"hostname", "xn--wva1o", 0},             /* KERAIA last */
    {"hostname", "xn--5db1c7a", 1},           /* "\u05e9\u05f4\u05d1" */
    {"hostname", "xn--x-2hc8h", 0},           /* GERSHAYIM after a Latin letter */
    {"hostname", "xn--lcke7u", 1},            /* "\u30ab\u30fb\u30ad" */
    {"hostname", "xn--xy-3n4a", 0},           /* KATAKANA MIDDLE DOT, no kana or Han */
    {"hostname", "xn--ngb2jd", 1},            /* Arabic-Indic digits alone */
    {"hostname", "xn--ngb2j9q", 0},           /* ... mixed with Extended ones */
    {"hostname", "xn--uwc8ep99d", 1},         /* ZWJ after a virama */
    {"hostname", "xn--uwc887g", 0},           /* ZWJ after no virama */
    {"hostname", "xn--mgbn2ecje63gr19l", 1},  /* ZWNJ between joining letters */
    {"hostname", "xn--ab-j1t", 0},            /* ZWNJ between Latin letters */

    /* idn-hostname: IDNA2008 through libidn2 */
    {"idn-hostname", "\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8", 1},
    {"idn-hostname", "example.com", 1},
    {"idn-hostname", "b\u00fccher.example", 1},
    {"idn-hostname", "B\u00fccher.example", 1}, /* ASCII letters fold, as in DNS */
    {"idn-hostname", "B\u00dcCHER.example", 0}, /* upper-case \u00dc is DISALLOWED */
    {"idn-hostname", "b\u00fccher\u3002example", 1},
    {"idn-hostname", "b\u00fccher\uff0eexample", 1},
    {"idn-hostname", "b\u00fccher\uff61example", 1},
    {"idn-hostname", "b\u00fccher.", 0},
    {"idn-hostname", "b\u00fccher\u3002", 0},
    {"idn-hostname", "\uff0eb\u00fccher", 0},
    {"idn-hostname", "b\u00fccher..example", 0},
    {"idn-hostname", "xn--bcher-kva.example", 1},
    {"idn-hostname", "xn--a.example", 0},
    {"idn-hostname", "ab--cd", 0},
    {"idn-hostname", "\u00fc\u00fc--x", 0}, /* "--" third and fourth in a U-label */
    {"idn-hostname", "-\u00e4", 0},
    {"idn-hostname", "\u00e4-", 0},
    {"idn-hostname", "\u00e4 b", 0},
    {"idn-hostname", "\u00e4_b", 0},
    {"idn-hostname", "u\u0308ber", 0},   /* not NFC */
    {"idn-hostname", "\u0301a", 0},      /* a combining mark first */
    {"idn-hostname", "\ufb01le", 0},     /* a ligature: UTS #46 would map it, IDNA2008 does not */
    {"idn-hostname", "\uff45\uff58", 0}, /* fullwidth letters, likewise */
    {"idn-hostname", "\u2126", 0},       /* OHM SIGN, likewise */
    {"idn-hostname", "paral\u00b7lel", 1},
    {"idn-hostname", "a\u00b7b", 0},
    {"idn-hostname", "\u00b7", 0},
    {"idn-hostname", "\u03c9\u0375\u03bf", 1},
    {"idn-hostname", "\u03c9\u0375x", 0},
    {"idn-hostname", "\u03c9\u0375", 0},
    {"idn-hostname", "\u05e9\u05f4\u05d1", 1},
    {"idn-hostname", "\u05e9\u05f3\u05d1", 1},
    {"idn-hostname", "\u05f3\u05e9", 0},
    {"idn-hostname", "\u30ab\u30fb\u30ad", 1},
    {"idn-hostname", "x\u30fby", 0},
    {"idn-hostname", "\u0628\u0663\u0664", 1},
    {"idn-hostname", "\u0628\u0663\u06f4", 0},
    {"idn-hostname", "\u0d28\u0d4d\u200d", 1},
    {"idn-hostname", "\u0d28\u200d", 0},
    {"idn-hostname", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", 1},
    {"idn-hostname", "a\u200cb", 0},
    {"idn-hostname", "\u0640\u0628", 0}, /* TATWEEL: DISALLOWED */

    /* ipv4 */
    {"ipv4", "192.168.0.1", 1},
    {"ipv4", "0.0.0.0", 1},
    {"ipv4", "255.255.255.255", 1},
    {"ipv4", "087.10.0.1", 0},
    {"ipv4", "00.0.0.0", 0},
    {"ipv4", "1.2.3.4.", 0},
    {"ipv4", ".1.2.3.4", 0},
    {"ipv4", "1..2.3", 0},
    {"ipv4", "256.0.0.0", 0},
    {"ipv4", "1000.0.0.0", 0},
    {"ipv4", "1.2.3.4\n", 0},
    {"ipv4", "1.2.3.\xe0\xa7\xa8", 0},
    {"ipv4", "1.2.3.4/8", 0},

    /* ipv6 */
    {"ipv6", "::1", 1},
    {"ipv6", "::", 1},
    {"ipv6", "::42:ff:1", 1},
    {"ipv6", "d6::", 1},
    {"ipv6", "1:d6::42", 1},
    {"ipv6", "1::d6:192.168.0.1", 1},
    {"ipv6", "1:2::192.168.0.1", 1},
    {"ipv6", "::ffff:192.168.0.1", 1},
    {"ipv6", "1:2:3:4:5:6:7:8", 1},
    {"ipv6", "1:2:3:4:5:6:1.2.3.4", 1},
    {"ipv6", "1000:1000:1000:1000:1000:1000:255.255.255.255", 1},
    {"ipv6", "FFFF:ffff::", 1},
    {"ipv6", "12345::", 0},
    {"ipv6", "::abcef", 0},
    {"ipv6", "1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1", 0},
    {"ipv6", "1:2:3:4:5:6:7:8:9", 0},
    {"ipv6", "1:2:3:4:5:6:7", 0},
    {"ipv6", "1:2:3:4:5:6:7::", 1},
    {"ipv6", "1:2:3:4:5:6:7:8::", 0},
    {"ipv6", "::laptop", 0},
    {"ipv6", ":2:3:4:5:6:7:8", 0},
    {"ipv6", "1:2:3:4:5:6:7:", 0},
    {"ipv6", ":2:3:4::8", 0},
    {"ipv6", "1::d6::42", 0},
    {"ipv6", "1:::2", 0},
    {"ipv6", "1::2:192.168.256.1", 0},
    {"ipv6", "1::2:192.168.ff.1", 0},
    {"ipv6", "1:2:3:4:5:6:7:1.2.3.4", 0},
    {"ipv6", "::1.2.3.4:1", 0},
    {"ipv6", "fe80::1%eth0", 0},
    {"ipv6", " ::1", 0},
    {"ipv6", "::1 ", 0},
    {"ipv6", "100:100:0:0:0:0:0:0:0:0", 0},
    {"ipv6", "1:2:3:4:5:6:7:\xe0\xa7\xaa", 0},
    {"ipv6", "1:2:3:4:5:::8", 0},
    {"ipv6", "::192.168.0.1", 1},
    {"ipv6", "::01.2.3.4", 0},

    /* uri, uri-reference, iri */
    {"uri", "http://example.com:", 1},
    {"uri", "http://[v1.fe80::a+en1]/", 1},
    {"uri", "http://[::1]:8080/", 1},
    {"uri", "http://[::1", 0},
    {"uri", "http://[1.2.3.4]/", 0},
    {"uri", "http://example.com:80a/", 0},
    {"uri", "http://a@b@c/", 0},
    {"uri", "http://example.com/%zz", 0},
    {"uri", "http://example.com/%a", 0},
    {"uri", "bar,baz:foo", 0},
    {"uri", "1http://example.com", 0},
    {"uri", "http://example.com/a b", 0},
    {"uri", "http://example.com/#a#b", 0},
    {"uri", "http://example.com/\xc3\xa4", 0},
    {"uri", "urn:isbn:0-486-27557-4", 1},
    {"uri", "http://example.com/?a=[b]", 0},
    {"uri-reference", "", 1},
    {"uri-reference", "?q", 1},
    {"uri-reference", "../a/b?c#d", 1},
    {"uri-reference", "a:b", 1},
    {"uri-reference", "1a:b", 0},
    {"uri-reference", "a/b:c", 1},
    {"uri-reference", "#frag\\ment", 0},
    {"iri", "http://\xc6\x92\xc3\xb8\xc7\xab.\xc3\x9f\xe0\xa5\xb3\xe2\x80\xa2\xc2\xa9/\xc3\xa4", 1},
    {"iri", "http://example.com/a b", 0},
    {"iri-reference", "\xc3\xa2\x72\xc3\xb8\xc3\xbc", 1},
    {"iri-reference", "#\xc3\xa2", 1},

    /* uri-template */
    {"uri-template", "http://example.com/dictionary/{term:1}/{term}", 1},
    {"uri-template", "{+path}/here{?x,y}{&z*}{#frag}{.a,b}{/c*}{;d:3}", 1},
    {"uri-template", "{var.name}{%41b}", 1},
    {"uri-template", "{x:9999}", 1},
    {"uri-template", "a'b", 1}, /* RFC 6570 erratum 6937 */
    {"uri-template", "{+base}/items('{id}')", 1},
    {"uri-template", "http://example.com/dictionary/{term:1}/{term", 0},
    {"uri-template", "{}", 0},
    {"uri-template", "{x:0}", 0},
    {"uri-template", "{x:10000}", 0},
    {"uri-template", "{x*:1}", 0},
    {"uri-template", "{!x}", 0},
    {"uri-template", "{x,}", 0},
    {"uri-template", "{.x.}", 0},
    {"uri-template", "{x..y}", 0},
    {"uri-template", "}", 0},
    {"uri-template", "a b", 0},
    {"uri-template", "{x}}", 0},
    {"uri-template", "{{x}}", 0},
    {"uri-template", "100%", 0},

    /* pointers */
    {"json-pointer", "/foo/bar~0/baz~1/%a", 1},
    {"json-pointer", "/foo/bar~", 0},
    {"relative-json-pointer", "0", 1},
    {"relative-json-pointer", "120/foo/bar", 1},
    {"relative-json-pointer", "0#", 1},
    {"relative-json-pointer", "1+2/a", 1},
    {"relative-json-pointer", "1-1#", 1},
    {"relative-json-pointer", "", 0},
    {"relative-json-pointer", "-1/foo", 0},
    {"relative-json-pointer", "+1/foo", 0},
    {"relative-json-pointer", "0##", 0},
    {"relative-json-pointer", "01/a", 0},
    {"relative-json-pointer", "01#", 0},
    {"relative-json-pointer", "0#/a", 0},
    {"relative-json-pointer", "1+/a", 0},
    {"relative-json-pointer", "1+01/a", 0},
    {"relative-json-pointer", "0/~2", 0},

    /* regex */
    {"regex", "([abc])+\\s+$", 1},
    {"regex", "^(abc]", 0},
    {"regex", "^\\S(|(.|\\n)*\\S)\\Z", 0},
    {"regex", "\\a", 0},

    /* idn-email */
    {"idn-email",
     "\xec\x8b\xa4\xeb\xa1\x80@\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8", 1},
    {"idn-email", "j\u00f6rg@b\u00fccher.example", 1},
    {"idn-email", "j\u00f6rg@a\u00b7b.example", 0},
    {"idn-email", "2962", 0},
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct hand_case *c = &cases[i];
		int rc = eddy_format_check(c->format, c->s, strlen(c->s));
		CHECK(rc == c->want);
		if (rc != c->want)
			fprintf(stderr, "%s \"%s\": got %d, want %d\n", c->format, c->s, rc,
			        c->want);
	}
}

static void test_edges(void)
{
	static const char *const known[] = {"date-time", "date",          "time",
	                                    "duration",  "email",         "idn-email",
	                                    "hostname",  "idn-hostname",  "ipv4",
	                                    "ipv6",      "uri",           "uri-reference",
	                                    "iri",       "iri-reference", "uri-template",
	                                    "uuid",      "json-pointer",  "relative-json-pointer",
	                                    "regex"};
	/* Every known format answers 0 or 1 on an empty string and never -1;
	 * an empty string is valid only where the grammar allows nothing. */
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		int rc = eddy_format_check(known[i], "", 0);
		CHECK(eddy_format_check(known[i], NULL, 0) == rc);
		bool empty_ok = !strcmp(known[i], "uri-reference") ||
		                !strcmp(known[i], "iri-reference") ||
		                !strcmp(known[i], "uri-template") ||
		                !strcmp(known[i], "json-pointer") || !strcmp(known[i], "regex");
		CHECK(rc == empty_ok);
		if (rc != empty_ok)
			fprintf(stderr, "%s on \"\": %d\n", known[i], rc);
	}

	/* unknown formats never fail validation */
	CHECK(eddy_format_check("color", "red", 3) == -1);
	CHECK(eddy_format_check("", "x", 1) == -1);
	CHECK(eddy_format_check("Date", "2020-01-01", 10) == -1);
	CHECK(eddy_format_check("int32", "1", 1) == -1);

	/* a NUL byte inside is a character like any other, not an end */
	CHECK(eddy_format_check("date", "2020-01-01\0", 11) == 0);
	CHECK(eddy_format_check("date", "2020-01-0\0", 10) == 0);
	CHECK(eddy_format_check("date-time", "2020-01-01T00:00:00Z\0", 21) == 0);
	CHECK(eddy_format_check("hostname", "a\0b", 3) == 0);
	CHECK(eddy_format_check("ipv4", "1.2.3.4\0", 8) == 0);
	CHECK(eddy_format_check("ipv6", "::1\0", 4) == 0);
	CHECK(eddy_format_check("email", "a@b\0", 4) == 0);
	CHECK(eddy_format_check("email", "\"a\0\"@b", 6) == 0);
	CHECK(eddy_format_check("uri", "http://a/\0", 10) == 0);
	CHECK(eddy_format_check("uri", "ht\0tp://a/", 10) == 0);
	CHECK(eddy_format_check("uri-reference", "\0", 1) == 0);
	CHECK(eddy_format_check("uri-template", "{a\0}", 4) == 0);
	CHECK(eddy_format_check("uuid", "00000000-0000-0000-0000-00000000000\0", 36) == 0);
	CHECK(eddy_format_check("duration", "P1D\0", 4) == 0);
	CHECK(eddy_format_check("regex", "a\0b", 3) == 1);
	CHECK(eddy_format_check("json-pointer", "/a\0b", 4) == 1); /* any char in a token */
	CHECK(eddy_format_check("relative-json-pointer", "0\0", 2) == 0);
	/* only len bytes are read: a valid prefix of a longer buffer */
	CHECK(eddy_format_check("date", "2020-01-01junk", 10) == 1);
	CHECK(eddy_format_check("ipv4", "1.2.3.45", 7) == 1);
	CHECK(eddy_format_check("uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380x", 36) == 1);
	/* invalid UTF-8 is invalid wherever non-ASCII is allowed */
	CHECK(eddy_format_check("iri", "http://a/\xc3", 10) == 0);
	CHECK(eddy_format_check("iri", "http://a/\xed\xa0\x80", 12) == 0);
	CHECK(eddy_format_check("idn-hostname", "\xc0\xaf", 2) == 0);
	CHECK(eddy_format_check("idn-email", "a@\xff", 3) == 0);

	/* huge inputs: answered, within limits, in linear time */
	size_t big = 4 << 20;
	char *s = malloc(big + 1);
	CHECK(s != NULL);
	if (!s)
		return;
	memset(s, 'a', big);
	s[big] = '\0';
	CHECK(eddy_format_check("hostname", s, big) == 0);
	CHECK(eddy_format_check("idn-hostname", s, big) == 0);
	CHECK(eddy_format_check("email", s, big) == 0);
	CHECK(eddy_format_check("date", s, big) == 0);
	CHECK(eddy_format_check("date-time", s, big) == 0);
	CHECK(eddy_format_check("uuid", s, big) == 0);
	CHECK(eddy_format_check("uri-reference", s, big) == 1);
	CHECK(eddy_format_check("uri", s, big) == 0);
	CHECK(eddy_format_check("uri-template", s, big) == 1);
	CHECK(eddy_format_check("json-pointer", s, big) == 0);
	/* past PCRE2's compiled size limit: refused, as a pattern no
	 * validator of ours could use */
	CHECK(eddy_format_check("regex", s, big) == 0);
	CHECK(eddy_format_check("regex", s, 10000) == 1);
	s[0] = '/';
	CHECK(eddy_format_check("json-pointer", s, big) == 1);
	memcpy(s, "http://", 7);
	CHECK(eddy_format_check("uri", s, big) == 1);
	memcpy(s, "PT", 2);
	memset(s + 2, '9', big - 3);
	s[big - 1] = 'S';
	CHECK(eddy_format_check("duration", s, big) == 1);
	memset(s, '1', big);
	CHECK(eddy_format_check("ipv4", s, big) == 0);
	CHECK(eddy_format_check("ipv6", s, big) == 0);
	CHECK(eddy_format_check("relative-json-pointer", s, big) == 1);
	memset(s, '{', big);
	CHECK(eddy_format_check("uri-template", s, big) == 0);
	memset(s, '(', big);
	CHECK(eddy_format_check("regex", s, big) == 0);
	free(s);
}

/* Fills buf with n labels of label_len copies of the UTF-8 character c
 * (NUL-terminated), dot-separated; returns the length. */
static size_t labels(char *buf, int n, int label_len, const char *c)
{
	size_t len = 0, clen = strlen(c);
	for (int i = 0; i < n; i++) {
		if (i)
			buf[len++] = '.';
		for (int k = 0; k < label_len; k++, len += clen)
			memcpy(buf + len, c, clen);
	}
	buf[len] = '\0';
	return len;
}

/* Host name lengths: 63 octets a label and 253 in all, counted in the
 * A-label form DNS carries, not in characters or UTF-8. */
static void test_host_lengths(void)
{
	char buf[1024];
	size_t n;

	n = labels(buf, 1, 63, "a");
	CHECK(eddy_format_check("hostname", buf, n) == 1);
	CHECK(eddy_format_check("idn-hostname", buf, n) == 1);
	n = labels(buf, 1, 64, "a");
	CHECK(eddy_format_check("hostname", buf, n) == 0);
	CHECK(eddy_format_check("idn-hostname", buf, n) == 0);
	/* 4 * 63 + 3 = 255; one label a character shorter is 254 */
	n = labels(buf, 4, 63, "a");
	CHECK(eddy_format_check("hostname", buf, n) == 0);
	CHECK(eddy_format_check("idn-hostname", buf, n) == 0);
	n = labels(buf, 4, 63, "a") - 1;
	CHECK(eddy_format_check("hostname", buf, n) == 0);
	n = labels(buf, 4, 63, "a") - 2;
	CHECK(eddy_format_check("hostname", buf, n) == 1);
	CHECK(eddy_format_check("idn-hostname", buf, n) == 1);

	/* 57 "\u00fc" are "xn--" and 59 octets of Punycode, 58 are 64 */
	n = labels(buf, 1, 57, "\u00fc");
	CHECK(eddy_format_check("idn-hostname", buf, n) == 1);
	n = labels(buf, 1, 58, "\u00fc");
	CHECK(eddy_format_check("idn-hostname", buf, n) == 0);
	/* 231 characters, but 4 A-labels of 63 and 3 dots are 255 */
	n = labels(buf, 4, 57, "\u00fc");
	CHECK(eddy_format_check("idn-hostname", buf, n) == 0);
	/* 3 * 63 + 61 + 3 = 253 */
	n = labels(buf, 4, 57, "\u00fc") - 2 * strlen("\u00fc");
	CHECK(eddy_format_check("idn-hostname", buf, n) == 1);
	/* a 60-character label is too long, whatever separates it */
	n = labels(buf, 1, 60, "\u00fc");
	memcpy(buf + n, "\u3002com", strlen("\u3002com") + 1);
	CHECK(eddy_format_check("idn-hostname", buf, strlen(buf)) == 0);
	n = labels(buf, 1, 30, "\u00fc");
	memcpy(buf + n, "\u3002com", strlen("\u3002com") + 1);
	CHECK(eddy_format_check("idn-hostname", buf, strlen(buf)) == 1);
}

/* Through the validator, format asserting: JSON Schema's formats apply to
 * strings only, so every other instance type is valid under each of them
 * in every dialect (and under a format eddy does not know), while a bad
 * string still fails. */
static void test_non_strings(void)
{
	static const char *const dialects[] = {
	    "https://json-schema.org/draft/2020-12/schema",
	    "https://json-schema.org/draft/2019-09/schema",
	    "http://json-schema.org/draft-07/schema#",
	    "http://json-schema.org/draft-06/schema#",
	    "http://json-schema.org/draft-04/schema#",
	};
	static const struct {
		const char *format, *bad; /* a string instance it rejects */
	} formats[] = {
	    {"date-time", "\"2020-01-01\""},
	    {"date", "\"2020-02-30\""},
	    {"time", "\"25:00:00Z\""},
	    {"duration", "\"P\""},
	    {"email", "\"@\""},
	    {"idn-email", "\"@\""},
	    {"hostname", "\"a..b\""},
	    {"idn-hostname", "\"a\\u00b7b\""},
	    {"ipv4", "\"1.2.3\""},
	    {"ipv6", "\"1::2::3\""},
	    {"uri", "\"a b\""},
	    {"uri-reference", "\"a b\""},
	    {"iri", "\"a b\""},
	    {"iri-reference", "\"a b\""},
	    {"uri-template", "\"{\""},
	    {"uuid", "\"x\""},
	    {"json-pointer", "\"x\""},
	    {"relative-json-pointer", "\"x\""},
	    {"regex", "\"(\""},
	    {"int64", NULL},
	};
	static const char *const others[] = {"12",
	                                     "-0",
	                                     "13.7",
	                                     "1e308",
	                                     "{}",
	                                     "[]",
	                                     "[\"a b\"]",
	                                     "true",
	                                     "false",
	                                     "null",
	                                     "{\"format\": \"(\"}"};
	struct eddy_jsonschema_opts opts = {.format_assert = true};
	struct eddy_json_doc *doc = eddy_json_doc_new();
	char schema[256], err[256];

	CHECK(doc != NULL);
	for (size_t d = 0; doc && d < sizeof dialects / sizeof dialects[0]; d++) {
		for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
			struct eddy_jsonschema_set *set = eddy_jsonschema_set_new(&opts);
			int n = snprintf(schema, sizeof schema,
			                 "{\"$schema\": \"%s\", \"format\": \"%s\"}", dialects[d],
			                 formats[f].format);
			const struct eddy_jsonschema *s =
			    set ? eddy_jsonschema_add(set, schema, (size_t)n, NULL, err, sizeof err)
			        : NULL;
			CHECK(s != NULL);
			for (size_t i = 0; s && i < sizeof others / sizeof others[0]; i++) {
				const struct eddy_json *v = eddy_json_parse(
				    doc, others[i], strlen(others[i]), err, sizeof err);
				bool ok = v && eddy_jsonschema_validate(set, s, v, NULL);
				CHECK(ok);
				if (!ok)
					fprintf(stderr, "%s, %s: %s is invalid\n", dialects[d],
					        formats[f].format, others[i]);
			}
			if (s && formats[f].bad) {
				const struct eddy_json *v = eddy_json_parse(
				    doc, formats[f].bad, strlen(formats[f].bad), err, sizeof err);
				CHECK(v && !eddy_jsonschema_validate(set, s, v, NULL));
			}
			eddy_jsonschema_set_destroy(set);
		}
	}
	eddy_json_doc_destroy(doc);
}

/* date and date-time run on every event under format assertion: a rough
 * figure, printed, and a generous bound so a slow machine does not fail. */
static void test_speed(void)
{
	static const char dt[] = "2024-02-29T23:59:60.123456+00:00";
	struct timespec a, b;
	int ok = 0, n = 1000000;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		ok += eddy_format_check("date-time", dt, sizeof dt - 1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
	printf("date-time: %.0f ns per check\n", ns);
	CHECK(ok == n);
	CHECK(ns < 5000);
}

int main(void)
{
	test_suite();
	test_cases();
	test_edges();
	test_host_lengths();
	test_non_strings();
	test_speed();
	return test_report("test_format");
}
