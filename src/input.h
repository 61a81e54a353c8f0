/* input.h - records from a file: NDJSON of structured CloudEvents, or
 * KEY<TAB>VALUE lines as `kcat -C -K '\t'` writes them (empty value: a
 * tombstone). Feeds eddy replay and the example events of eddy dev. */
#ifndef EDDY_INPUT_H
#define EDDY_INPUT_H

#include <stddef.h>

#include "msg.h"

struct eddy_input;

/* Opens path ("-" for standard input). Records get the given topic,
 * partition 0 and their record number as offset. NULL with errstr. */
struct eddy_input *eddy_input_open(const char *path, const char *topic, char *errstr,
                                   size_t errstr_size);
void eddy_input_destroy(struct eddy_input *in);

/* Reads the next record into m (borrowed until the next call). An NDJSON
 * line's key is its event's "id" (the state snapshot pattern), or none when
 * it has no string id. Returns 1, 0 at the end, -1 on a read error. Blank
 * lines are skipped. */
int eddy_input_next(struct eddy_input *in, struct eddy_msg *m, char *errstr, size_t errstr_size);

/* Line number (1-based) of the last record read. */
size_t eddy_input_line(const struct eddy_input *in);

/* The default topic of a file: its name without directory and extension
 * ("examples/events/orders.ndjson" -> "orders"); "stdin" for "-". The
 * result is written into buf. */
const char *eddy_input_topic_of(const char *path, char *buf, size_t size);

#endif
