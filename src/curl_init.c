/* curl_init.c - curl_global_init once per process. */
#include "curl_init.h"

#include <curl/curl.h>
#include <pthread.h>

#include "log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode rc;

/* curl_global_init is not thread-safe and must run before any thread uses
 * libcurl; it is never undone (that would race the other users). */
static void init(void)
{
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int eddy_curl_init(const char *what, char *errstr, size_t errstr_size)
{
	pthread_once(&once, init);
	if (rc == CURLE_OK)
		return 0;
	eddy_errf(errstr, errstr_size, "%s: libcurl: %s", what, curl_easy_strerror(rc));
	return -1;
}
