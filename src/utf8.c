/* utf8.c - decoding, checking, counting and cutting UTF-8 (utf8.h). */
#include "utf8.h"

#include <string.h>

static bool is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t eddy_utf8_decode(const char *str, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t c, min;
	size_t n;

	if (!len)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!is_cont(s[i]))
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* the shortest form only, so that one code point has one spelling */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

size_t eddy_utf8_valid_len(const char *s, size_t len)
{
	uint32_t cp;
	size_t i = 0, n;

	while (i < len) {
		/* ASCII eight bytes at a time: most text is */
		uint64_t w;
		while (i + 8 <= len && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull)))
			i += 8;
		if (i == len)
			break;
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if (!(n = eddy_utf8_decode(s + i, len - i, &cp)))
			break;
		i += n;
	}
	return i;
}

bool eddy_utf8_valid(const char *s, size_t len)
{
	return eddy_utf8_valid_len(s, len) == len;
}

size_t eddy_utf8_count(const char *s, size_t len)
{
	size_t c = 0;

	for (size_t i = 0; i < len; i++)
		c += !is_cont((unsigned char)s[i]);
	return c;
}

size_t eddy_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* s[max] is the first byte left out: while it continues a sequence,
	 * that sequence's earlier bytes go too */
	while (max && is_cont((unsigned char)s[max]))
		max--;
	return max;
}
