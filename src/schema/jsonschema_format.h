/* jsonschema_format.h - the "format" values of JSON Schema: date, date-time,
 * time, duration, email, hostname, ipv4, ipv6, uri, uri-reference,
 * uri-template, uuid, json-pointer, relative-json-pointer, regex. */
#ifndef EDDY_JSONSCHEMA_FORMAT_H
#define EDDY_JSONSCHEMA_FORMAT_H

#include <stddef.h>

/* Checks the string s (UTF-8, len bytes) against format: 1 valid, 0
 * invalid, -1 a format eddy does not know (never fails validation). */
int eddy_format_check(const char *format, const char *s, size_t len);

#endif
