/* curl_init.h - libcurl's process-wide set-up, once, for every module
 * that makes HTTP requests (the registry client, the alert sender). */
#ifndef EDDY_CURL_INIT_H
#define EDDY_CURL_INIT_H

#include <stddef.h>

/* Runs curl_global_init the first time it is called in the process and
 * answers with its outcome every time: 0, or -1 with "what: libcurl:
 * reason" in errstr. Thread-safe. */
int eddy_curl_init(const char *what, char *errstr, size_t errstr_size);

#endif
