/* utf8.h - UTF-8 as RFC 3629 defines it: the one decoder of a code point
 * that every module checking or walking UTF-8 text uses. */
#ifndef EDDY_UTF8_H
#define EDDY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1 to 4) of the well-formed UTF-8 sequence at s, which has len
 * bytes left, with its code point in *cp; 0 when s does not start one:
 * an overlong form, a surrogate (U+D800..U+DFFF), a value past U+10FFFF, a
 * stray continuation byte or a sequence cut short (*cp is then untouched).
 * A NUL byte is a well-formed sequence: callers that refuse it say so. */
size_t eddy_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* The length of the longest well-formed prefix of s[0..len): len when all
 * of it is, else where the first bad sequence starts. */
size_t eddy_utf8_valid_len(const char *s, size_t len);

/* true when s[0..len) is well-formed UTF-8 throughout (NUL bytes allowed). */
bool eddy_utf8_valid(const char *s, size_t len);

/* The number of code points in s[0..len), which must be well-formed (each
 * byte that is not a continuation byte starts one). */
size_t eddy_utf8_count(const char *s, size_t len);

/* The length of s[0..len) cut to at most max bytes, shortened further so
 * that the cut never falls inside a sequence. */
size_t eddy_utf8_cut(const char *s, size_t len, size_t max);

#endif
