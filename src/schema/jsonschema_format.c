/* jsonschema_format.c - the "format" assertions of JSON Schema 2020-12,
 * each checked by hand against the grammar of the RFC the spec cites, but
 * IDNA2008's Unicode rules for host names, which libidn2 holds. */
#include "jsonschema_format.h"

#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "regex.h"
#include "utf8.h"

/* ---- characters ------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 unreserved and sub-delims. */
static bool is_unreserved(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c)
{
	return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* RFC 3987 ucschar (and iprivate when priv): the non-ASCII code points an
 * IRI may hold. */
static bool is_ucschar(uint32_t c, bool priv)
{
	if (priv && ((c >= 0xe000 && c <= 0xf8ff) || (c >= 0xf0000 && c <= 0xffffd) ||
	             (c >= 0x100000 && c <= 0x10fffd)))
		return true;
	if ((c >= 0xa0 && c <= 0xd7ff) || (c >= 0xf900 && c <= 0xfdcf) ||
	    (c >= 0xfdf0 && c <= 0xffef))
		return true;
	/* U+10000..U+EFFFD but the last two code points of each plane */
	return c >= 0x10000 && c <= 0xefffd && (c & 0xfffe) != 0xfffe;
}

/* Value of n ASCII digits at s, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ---- date, time, date-time, duration (RFC 3339) ----------------------- */

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* full-date = date-fullyear "-" date-month "-" date-mday */
static bool full_date(const char *s, size_t len)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap_year(y));
}

/* full-time = partial-time time-offset, with "Z" and "T" case-insensitive
 * (RFC 3339 5.6 note). A leap second (:60) is valid only when it falls on
 * 23:59 UTC; whether that day had one is a matter of history, not syntax. */
static bool full_time(const char *s, size_t len)
{
	if (len < 9 || s[2] != ':' || s[5] != ':')
		return false;
	int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
		return false;
	size_t i = 8;
	if (s[i] == '.') {
		size_t start = ++i;
		while (i < len && is_digit((unsigned char)s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i >= len)
		return false;
	int off = 0; /* minutes east of UTC */
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
		off = 0;
	} else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
		off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
	} else {
		return false;
	}
	if (sec == 60 && ((h * 60 + m - off) % 1440 + 1440) % 1440 != 23 * 60 + 59)
		return false;
	return true;
}

static bool date_time(const char *s, size_t len)
{
	return len > 11 && (s[10] == 'T' || s[10] == 't') && full_date(s, 10) &&
	       full_time(s + 11, len - 11);
}

/* Reads 1*DIGIT followed by a unit letter at s[*i]; the unit, or 0. */
static char dur_unit(const char *s, size_t len, size_t *i)
{
	size_t k = *i;
	while (k < len && is_digit((unsigned char)s[k]))
		k++;
	if (k == *i || k >= len)
		return 0;
	*i = k + 1;
	return s[k];
}

/* RFC 3339 Appendix A, strictly: units in order and without gaps in each
 * part ("P1Y2M3D", "PT1H2M3S", "P1M3D"... but "P1Y3D" skips the month,
 * "PT1H3S" the minute), weeks alone, whole numbers only. */
static bool duration(const char *s, size_t len)
{
	static const char date_units[] = "YMD", time_units[] = "HMS";
	size_t i = 1;
	if (len < 3 || s[0] != 'P')
		return false;
	if (s[1] != 'T') {
		char u = dur_unit(s, len, &i);
		if (u == 'W')
			return i == len;
		const char *at = u ? strchr(date_units, u) : NULL;
		if (!at)
			return false;
		for (const char *next = at + 1; i < len && s[i] != 'T'; next++) {
			if (!*next || dur_unit(s, len, &i) != *next)
				return false;
		}
		if (i == len)
			return true;
	}
	i++; /* 'T' */
	char u = dur_unit(s, len, &i);
	const char *at = u ? strchr(time_units, u) : NULL;
	if (!at)
		return false;
	for (const char *next = at + 1; i < len; next++)
		if (!*next || dur_unit(s, len, &i) != *next)
			return false;
	return true;
}

/* ---- hosts and addresses ---------------------------------------------- */

/* RFC 791 dotted quad as RFC 3986's dec-octet: no leading zeros. */
static bool ipv4(const char *s, size_t len)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		int v = 0;
		while (i < len && is_digit((unsigned char)s[i]) && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return false;
	}
	return i == len;
}

/* RFC 4291 2.2 text forms: eight groups, one "::" for a run of zeros, the
 * last 32 bits optionally as a dotted quad. No zone ("%eth0"): RFC 6874
 * zones belong to URIs, not to the address. */
static bool ipv6(const char *s, size_t len)
{
	size_t i = 0;
	int groups = 0;
	bool compressed = false;
	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		compressed = true;
		i = 2;
	} else if (len && s[0] == ':') {
		return false;
	}
	while (i < len) {
		size_t start = i;
		while (i < len && is_hex((unsigned char)s[i]))
			i++;
		if (i < len && s[i] == '.') {
			if (!ipv4(s + start, len - start))
				return false;
			groups += 2;
			i = len;
			break;
		}
		if (i == start || i - start > 4)
			return false;
		groups++;
		if (i == len)
			break;
		if (s[i] != ':' || ++i == len)
			return false;
		if (s[i] == ':') {
			if (compressed)
				return false;
			compressed = true;
			i++;
		}
	}
	return compressed ? groups <= 7 : groups == 8;
}

/* RFC 1034 3.1: 255 octets on the wire are 253 characters of text (no
 * final dot); RFC 1035 2.3.4: 63 octets a label. */
#define HOST_MAX 253
#define LABEL_MAX 63

static bool is_ldh(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '-';
}

/* An LDH label (RFC 5890 2.3.1): letters, digits and hyphens, 1 to 63, no
 * hyphen first or last. */
static bool ldh_label(const char *s, size_t n)
{
	if (!n || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_ldh((unsigned char)s[i]))
			return false;
	return true;
}

/* An XN-label is an A-label only when it is Punycode that decodes to a
 * U-label which encodes back to the same A-label (RFC 5891 5.4). libidn2's
 * registration check does the decoding and the round trip and tests the
 * U-label against IDNA2008: DISALLOWED and unassigned code points (RFC 5892
 * tables), the CONTEXTJ and CONTEXTO rules of RFC 5892 appendix A, leading
 * combining marks, hyphens, NFC and the Bidi rule of RFC 5893. DNS is case
 * blind, so "XN--" and upper-case Punycode count as their lower case. */
static bool a_label(const char *s, size_t n)
{
	char buf[LABEL_MAX + 1];
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(is_alpha((unsigned char)s[i]) ? s[i] | 0x20 : s[i]);
	buf[n] = '\0';
	return idn2_register_u8(NULL, (const uint8_t *)buf, NULL, 0) == IDN2_OK;
}

/* An ASCII label of a host name: LDH, and when it has "--" in the third
 * and fourth place (RFC 5890's reserved R-LDH labels) an A-label. */
static bool ascii_label(const char *s, size_t n)
{
	if (!ldh_label(s, n))
		return false;
	if (n >= 4 && s[2] == '-' && s[3] == '-')
		return (s[0] | 0x20) == 'x' && (s[1] | 0x20) == 'n' && a_label(s, n);
	return true;
}

/* RFC 1123 2.1 host name: labels as above, dot-separated, 253 in all. A
 * final dot (DNS's absolute form) is not part of a host name. */
static bool hostname(const char *s, size_t len)
{
	size_t start = 0;
	if (!len || len > HOST_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!ascii_label(s + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* The IDNA label separators of RFC 3490 3.1: full stop and its ideographic,
 * fullwidth and halfwidth forms. Length of the one at s, or 0. */
static size_t idn_dot(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t k = eddy_utf8_decode((const char *)s, n, &cp);
	return k && (cp == '.' || cp == 0x3002 || cp == 0xff0e || cp == 0xff61) ? k : 0;
}

/* A label of an internationalized host name, its A-label's length in *alen:
 * ASCII labels as for hostname, others a U-label (RFC 5890 2.3.2.1) by
 * libidn2's IDNA2008 registration check, which also yields the A-label.
 * ASCII letters are folded to lower case first, as DNS compares them; any
 * other upper-case letter is DISALLOWED in IDNA2008 and stays invalid. Not
 * UTS #46 lookup: its mapping would accept text that is no U-label, and it
 * skips the CONTEXTO rules. */
static bool idn_label(const unsigned char *s, size_t n, size_t *alen)
{
	/* a U-label's A-label holds at least one octet per code point
	 * besides "xn--", and a code point is at most 4 octets of UTF-8 */
	char buf[4 * (LABEL_MAX - 4) + 1];
	uint8_t *alabel = NULL;
	bool ascii = true;
	uint32_t cp;
	if (n >= sizeof buf)
		return false;
	for (size_t i = 0, k; i < n; i += k) {
		if (!(k = eddy_utf8_decode((const char *)s + i, n - i, &cp)))
			return false;
		/* libidn2 reads C strings: no NUL, nor other non-LDH ASCII */
		if (cp < 0x80 && !is_ldh((unsigned char)cp))
			return false;
		ascii = ascii && cp < 0x80;
	}
	if (ascii) {
		*alen = n;
		return ascii_label((const char *)s, n);
	}
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(is_alpha(s[i]) ? s[i] | 0x20 : s[i]);
	buf[n] = '\0';
	if (idn2_register_u8((const uint8_t *)buf, NULL, &alabel, 0) != IDN2_OK)
		return false;
	*alen = strlen((const char *)alabel);
	idn2_free(alabel);
	return *alen <= LABEL_MAX;
}

/* Internationalized host names (RFC 5890 2.3.2.3): labels split at any
 * IDNA dot, each an LDH label, an A-label or a U-label, and 253 octets in
 * all once every label is in its A-label form (the name DNS would carry). */
static bool idn_hostname(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t total = 0, start = 0, alen = 0, dot = 0;
	if (!len)
		return false;
	for (size_t i = 0;; i++) {
		/* the dots' first bytes are never inside a UTF-8 sequence */
		if (i < len && !(dot = idn_dot(s + i, len - i)))
			continue;
		if (!idn_label(s + start, i - start, &alen))
			return false;
		total += alen + 1;
		if (total - 1 > HOST_MAX)
			return false;
		if (i == len)
			return true;
		i += dot - 1;
		start = i + 1;
	}
}

/* ---- email (RFC 5321 4.1.2 Mailbox, RFC 6531 for idn-email) ----------- */

static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Mailbox = Local-part "@" ( Domain / address-literal ). The local part
 * is a dot-string or a quoted string, at most 64 octets; the domain is a
 * host name or "[IPv4]" / "[IPv6:...]". With intl (RFC 6531), non-ASCII
 * UTF-8 is also allowed in atoms, quoted strings and domain labels. */
static bool mailbox(const char *str, size_t len, bool intl)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	uint32_t cp;
	if (len > 254)
		return false;
	if (len && s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\') {
				if (++i >= len || s[i] < 32 || s[i] > 126)
					return false;
			} else if (s[i] >= 0x80 && intl) {
				size_t k = eddy_utf8_decode(str + i, len - i, &cp);
				if (!k)
					return false;
				i += k - 1;
			} else if (s[i] < 32 || s[i] > 126) {
				return false;
			}
		}
		if (i >= len)
			return false;
		i++;
	} else {
		bool atom_start = true;
		for (; i < len && s[i] != '@'; i++) {
			if (s[i] == '.') {
				if (atom_start)
					return false;
				atom_start = true;
				continue;
			}
			if (s[i] >= 0x80 && intl) {
				size_t k = eddy_utf8_decode(str + i, len - i, &cp);
				if (!k)
					return false;
				i += k - 1;
			} else if (!is_atext(s[i])) {
				return false;
			}
			atom_start = false;
		}
		if (atom_start)
			return false;
	}
	if (i > 64 || i >= len || s[i] != '@')
		return false;
	const char *d = str + i + 1;
	size_t dlen = len - i - 1;
	if (dlen >= 2 && d[0] == '[' && d[dlen - 1] == ']') {
		/* RFC 5234 2.3: the "IPv6:" tag, a quoted string, is
		 * case-insensitive */
		if (dlen > 7 && !strncasecmp(d + 1, "IPv6:", 5))
			return ipv6(d + 6, dlen - 7);
		return ipv4(d + 1, dlen - 2);
	}
	return intl ? idn_hostname(d, dlen) : hostname(d, dlen);
}

/* ---- URIs and IRIs (RFC 3986, RFC 3987) ------------------------------- */

/* Checks s[i..end) holds only pchar (unreserved, pct-encoded, sub-delims,
 * ":", "@") and the characters in extra; iri adds ucschar (and iprivate
 * when priv). */
static bool uri_chars(const unsigned char *s, size_t i, size_t end, const char *extra, bool iri,
                      bool priv)
{
	while (i < end) {
		unsigned char c = s[i];
		uint32_t cp;
		if (c == '%') {
			if (end - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
				return false;
			i += 3;
		} else if (c >= 0x80) {
			size_t k = iri ? eddy_utf8_decode((const char *)s + i, end - i, &cp) : 0;
			if (!k || !is_ucschar(cp, priv))
				return false;
			i += k;
		} else if (is_unreserved(c) || is_sub_delim(c) || (c && strchr(extra, c))) {
			i++;
		} else {
			return false;
		}
	}
	return true;
}

/* authority = [ userinfo "@" ] host [ ":" port ] */
static bool authority(const unsigned char *s, size_t i, size_t end, bool iri)
{
	const unsigned char *at = memchr(s + i, '@', end - i);
	if (at) {
		size_t a = (size_t)(at - s);
		if (!uri_chars(s, i, a, ":", iri, false))
			return false;
		i = a + 1;
	}
	size_t host_end;
	if (i < end && s[i] == '[') {
		const unsigned char *close = memchr(s + i, ']', end - i);
		if (!close)
			return false;
		host_end = (size_t)(close - s) + 1;
		const char *lit = (const char *)s + i + 1;
		size_t lit_len = host_end - i - 2;
		if (lit_len && (lit[0] == 'v' || lit[0] == 'V')) {
			/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
			size_t k = 1;
			while (k < lit_len && is_hex((unsigned char)lit[k]))
				k++;
			if (k == 1 || k >= lit_len - 1 || lit[k] != '.')
				return false;
			if (!uri_chars((const unsigned char *)lit, k + 1, lit_len, ":", false,
			               false) ||
			    memchr(lit + k + 1, '%', lit_len - k - 1))
				return false;
		} else if (!ipv6(lit, lit_len)) {
			return false;
		}
	} else {
		const unsigned char *colon = memchr(s + i, ':', end - i);
		host_end = colon ? (size_t)(colon - s) : end;
		if (!uri_chars(s, i, host_end, "", iri, false))
			return false;
	}
	if (host_end == end)
		return true;
	if (s[host_end] != ':')
		return false;
	for (size_t k = host_end + 1; k < end; k++)
		if (!is_digit(s[k]))
			return false;
	return true;
}

/* URI (need_scheme) or URI-reference; IRI and IRI-reference with iri.
 * The parts are split as in RFC 3986 Appendix B, then each checked. */
static bool uri(const char *str, size_t len, bool need_scheme, bool iri)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k = 0;
	while (k < len && !strchr(":/?#", s[k]))
		k++;
	if (k < len && s[k] == ':') {
		/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); a
		 * relative reference cannot have a colon in its first segment */
		if (!is_alpha(s[0]))
			return false;
		for (size_t j = 1; j < k; j++)
			if (!is_alpha(s[j]) && !is_digit(s[j]) && s[j] != '+' && s[j] != '-' &&
			    s[j] != '.')
				return false;
		i = k + 1;
	} else if (need_scheme) {
		return false;
	}

	size_t end = i;
	while (end < len && s[end] != '?' && s[end] != '#')
		end++;
	if (end - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
		size_t a = i + 2, b = a;
		while (b < end && s[b] != '/')
			b++;
		if (!authority(s, a, b, iri))
			return false;
		i = b;
	}
	/* path: segments of pchar */
	if (!uri_chars(s, i, end, ":@/", iri, false))
		return false;
	i = end;
	if (i < len && s[i] == '?') {
		end = ++i;
		while (end < len && s[end] != '#')
			end++;
		if (!uri_chars(s, i, end, ":@/?", iri, true))
			return false;
		i = end;
	}
	if (i < len) /* '#' */
		return uri_chars(s, i + 1, len, ":@/?", iri, false);
	return true;
}

/* RFC 6570 2: literals and expressions up to level 4. The operators RFC
 * 6570 reserves for future use ("=", ",", "!", "@", "|") are errors, as
 * the RFC asks of a processor that does not know them. */
static bool uri_template(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	uint32_t cp;
	while (i < len) {
		unsigned char c = s[i];
		if (c == '{') {
			i++;
			if (i < len && s[i] && strchr("+#./;?&", s[i]))
				i++;
			for (;;) {
				/* varname = varchar *( ["."] varchar ) */
				size_t start = i;
				bool dot = true;
				while (i < len) {
					if (s[i] == '%') {
						if (len - i < 3 || !is_hex(s[i + 1]) ||
						    !is_hex(s[i + 2]))
							return false;
						i += 3;
					} else if (is_alpha(s[i]) || is_digit(s[i]) ||
					           s[i] == '_') {
						i++;
					} else if (s[i] == '.' && !dot) {
						i++;
						dot = true;
						continue;
					} else {
						break;
					}
					dot = false;
				}
				if (i == start || dot || i >= len)
					return false;
				if (s[i] == ':') {
					/* prefix = ":" max-length, 1 to 9999 */
					size_t d = ++i;
					if (i < len && s[i] >= '1' && s[i] <= '9')
						while (i < len && is_digit(s[i]) && i - d < 4)
							i++;
					if (i == d || i >= len)
						return false;
				} else if (s[i] == '*') {
					if (++i >= len)
						return false;
				}
				if (s[i] == '}')
					break;
				if (s[i] != ',')
					return false;
				i++;
			}
			i++;
		} else if (c == '%') {
			if (len - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
				return false;
			i += 3;
		} else if (c >= 0x80) {
			size_t k = eddy_utf8_decode(str + i, len - i, &cp);
			if (!k || !is_ucschar(cp, true))
				return false;
			i += k;
		} else if (c <= 0x20 || c == 0x7f || strchr("\"<>\\^`{|}", c)) {
			/* "'" is not among them: RFC 6570 erratum 6937
			 * (verified) puts it back into section 2.1's literals */
			return false;
		} else {
			i++;
		}
	}
	return true;
}

/* ---- the rest --------------------------------------------------------- */

/* RFC 4122 3: 8-4-4-4-12 hex digits, either case; any version and
 * variant (the nil UUID too). */
static bool uuid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* RFC 6901 3: "" or ("/" reference-token)*, "~" only as "~0" or "~1". The
 * string is already unescaped JSON, so any other code point is fine. */
static bool json_pointer(const char *s, size_t len)
{
	if (len && s[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
			return false;
	return true;
}

/* draft-bhutton-relative-json-pointer-00 3: non-negative-integer, an
 * optional index manipulation ("+" or "-" and an integer), then "#" or a
 * JSON pointer. */
static bool relative_json_pointer(const char *s, size_t len)
{
	size_t i = 0;
	if (!len || !is_digit((unsigned char)s[0]))
		return false;
	if (s[0] == '0')
		i = 1;
	else
		while (i < len && is_digit((unsigned char)s[i]))
			i++;
	if (i < len && (s[i] == '+' || s[i] == '-')) {
		size_t d = ++i;
		if (i < len && s[i] == '0')
			i++;
		else
			while (i < len && is_digit((unsigned char)s[i]))
				i++;
		if (i == d)
			return false;
	}
	if (i < len && s[i] == '#')
		return i + 1 == len;
	return json_pointer(s + i, len - i);
}

static bool regex(const char *s, size_t len)
{
	struct eddy_regex *re = eddy_regex_compile(s, len, NULL, 0);
	eddy_regex_free(re);
	return re != NULL;
}

static bool email(const char *s, size_t len)
{
	return mailbox(s, len, false);
}

static bool idn_email(const char *s, size_t len)
{
	return mailbox(s, len, true);
}

static bool uri_abs(const char *s, size_t len)
{
	return uri(s, len, true, false);
}

static bool uri_ref(const char *s, size_t len)
{
	return uri(s, len, false, false);
}

/* IRIs as URIs with RFC 3987's ucschar and iprivate allowed where it allows
 * them (a little looser: also in a host name, which RFC 3987 restricts
 * further through IDNA). */
static bool iri_abs(const char *s, size_t len)
{
	return uri(s, len, true, true);
}

static bool iri_ref(const char *s, size_t len)
{
	return uri(s, len, false, true);
}

static const struct {
	const char *name;
	bool (*check)(const char *s, size_t len);
} formats[] = {
    {"date-time", date_time},
    {"date", full_date},
    {"time", full_time},
    {"duration", duration},
    {"email", email},
    {"idn-email", idn_email},
    {"hostname", hostname},
    {"idn-hostname", idn_hostname},
    {"ipv4", ipv4},
    {"ipv6", ipv6},
    {"uri", uri_abs},
    {"uri-reference", uri_ref},
    {"iri", iri_abs},
    {"iri-reference", iri_ref},
    {"uri-template", uri_template},
    {"uuid", uuid},
    {"json-pointer", json_pointer},
    {"relative-json-pointer", relative_json_pointer},
    {"regex", regex},
};

int eddy_format_check(const char *format, const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (strcmp(format, formats[i].name) == 0)
			return formats[i].check(s ? s : "", s ? len : 0);
	return -1;
}
