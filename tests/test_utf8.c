/* test_utf8.c - the UTF-8 decoder against an encoder: every Unicode scalar
 * value decodes, and nothing else does, over every byte string of up to
 * three bytes and the four-byte ones where the rules change; counting and
 * cutting at sequence boundaries. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "utf8.h"

/* The UTF-8 encoding of cp into out; its length. */
static size_t encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool is_scalar(uint32_t cp)
{
	return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

/* Sound: whatever the decoder accepts at the start of s (n bytes) is the
 * one encoding of a Unicode scalar value, which it returns. */
static bool sound(const unsigned char *s, size_t n)
{
	unsigned char e[4];
	uint32_t cp = 0xffffffff;
	size_t got = eddy_utf8_decode((const char *)s, n, &cp);

	if (!got)
		return cp == 0xffffffff; /* untouched */
	return is_scalar(cp) && encode(cp, e) == got && memcmp(e, s, got) == 0;
}

/* Complete: every scalar value's encoding decodes to it, whatever follows;
 * a surrogate's never does. Over every byte string of up to three bytes
 * and the four-byte ones built from bytes where the rules change: sound. */
static void test_against_encoder(void)
{
	static const unsigned char edges[] = {0x00, 0x7f, 0x80, 0x8f, 0x90,
	                                      0x9f, 0xa0, 0xbf, 0xc0, 0xff};
	unsigned char s[5] = {0};
	unsigned long bad = 0;
	uint32_t got;

	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		size_t n = encode(cp, s);

		s[n] = 0x80; /* a stray continuation byte after it changes nothing */
		got = 0xffffffff;
		if (is_scalar(cp))
			bad += eddy_utf8_decode((const char *)s, n + 1, &got) != n || got != cp;
		else
			bad += eddy_utf8_decode((const char *)s, n + 1, &got) != 0;
		/* cut short, it is no sequence */
		bad += n > 1 && eddy_utf8_decode((const char *)s, n - 1, &got) != 0;
	}
	CHECK(bad == 0);

	bad = 0;
	for (unsigned a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		bad += !sound(s, 1);
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			bad += !sound(s, 2);
			for (unsigned c = 0; c < 256; c++) {
				s[2] = (unsigned char)c;
				bad += !sound(s, 3);
			}
			for (size_t c = 0; c < sizeof edges; c++) {
				for (size_t d = 0; d < sizeof edges; d++) {
					s[2] = edges[c];
					s[3] = edges[d];
					bad += !sound(s, 4);
				}
			}
		}
	}
	CHECK(bad == 0);
}

static int decodes(const char *s, size_t n, uint32_t want)
{
	uint32_t cp;

	return eddy_utf8_decode(s, n, &cp) == n && cp == want;
}

static void test_known(void)
{
	uint32_t cp;

	CHECK(decodes("\0", 1, 0)); /* NUL is text here; callers refuse it */
	CHECK(decodes("\x7f", 1, 0x7f));
	CHECK(decodes("\xc2\x80", 2, 0x80));
	CHECK(decodes("\xc3\xa9", 2, 0xe9));
	CHECK(decodes("\xe0\xa0\x80", 3, 0x800));
	CHECK(decodes("\xed\x9f\xbf", 3, 0xd7ff));
	CHECK(decodes("\xee\x80\x80", 3, 0xe000));
	CHECK(decodes("\xef\xbf\xbf", 3, 0xffff));
	CHECK(decodes("\xf0\x90\x80\x80", 4, 0x10000));
	CHECK(decodes("\xf4\x8f\xbf\xbf", 4, 0x10ffff));

	CHECK(!eddy_utf8_decode("", 0, &cp));
	CHECK(!eddy_utf8_decode("\xc0\x80", 2, &cp));         /* overlong NUL */
	CHECK(!eddy_utf8_decode("\xc1\xbf", 2, &cp));         /* overlong */
	CHECK(!eddy_utf8_decode("\xe0\x9f\xbf", 3, &cp));     /* overlong */
	CHECK(!eddy_utf8_decode("\xf0\x8f\xbf\xbf", 4, &cp)); /* overlong */
	CHECK(!eddy_utf8_decode("\xed\xa0\x80", 3, &cp));     /* U+D800 */
	CHECK(!eddy_utf8_decode("\xed\xbf\xbf", 3, &cp));     /* U+DFFF */
	CHECK(!eddy_utf8_decode("\xf4\x90\x80\x80", 4, &cp)); /* U+110000 */
	CHECK(!eddy_utf8_decode("\xf8\x88\x80\x80\x80", 5, &cp));
	CHECK(!eddy_utf8_decode("\x80", 1, &cp));
	CHECK(!eddy_utf8_decode("\xc3", 1, &cp)); /* cut short */
	CHECK(!eddy_utf8_decode("\xe2\x82", 2, &cp));
	CHECK(!eddy_utf8_decode("\xc3\xa9", 1, &cp)); /* len, not the NUL, ends it */
}

static void test_valid(void)
{
	CHECK(eddy_utf8_valid("", 0));
	CHECK(eddy_utf8_valid(NULL, 0));
	CHECK(eddy_utf8_valid("caf\xc3\xa9 \xf0\x9f\x90\xb2", 10));
	CHECK(eddy_utf8_valid("a\0b", 3));
	CHECK(!eddy_utf8_valid("caf\xc3", 4));
	CHECK(!eddy_utf8_valid("t\xff", 2));
	CHECK(!eddy_utf8_valid("\xed\xa0\x80\xed\xb0\x80", 6)); /* CESU-8 pair */
}

static void test_count_and_cut(void)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb2"; /* a é € 🐲 */

	CHECK(eddy_utf8_count(s, 0) == 0);
	CHECK(eddy_utf8_count(s, 10) == 4);
	CHECK(eddy_utf8_count("\0\0", 2) == 2);

	CHECK(eddy_utf8_cut(s, 10, 100) == 10);
	CHECK(eddy_utf8_cut(s, 10, 10) == 10);
	CHECK(eddy_utf8_cut(s, 10, 9) == 6); /* not inside the dragon */
	CHECK(eddy_utf8_cut(s, 10, 6) == 6);
	CHECK(eddy_utf8_cut(s, 10, 5) == 3);
	CHECK(eddy_utf8_cut(s, 10, 2) == 1);
	CHECK(eddy_utf8_cut(s, 10, 1) == 1);
	CHECK(eddy_utf8_cut(s, 10, 0) == 0);
	CHECK(eddy_utf8_cut("\x80\x80\x80", 3, 2) == 0); /* no start byte at all */
}

int main(void)
{
	test_against_encoder();
	test_known();
	test_valid();
	test_count_and_cut();
	return test_report("test_utf8");
}
