/* fuzz_config.c - eddy.yaml: the input is a configuration file's text,
 * loaded as `eddy run -c` loads one (without its environment). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *const envp[] = {"EDDY_FUZZ_VAR=value", NULL};
	char err[512];
	struct eddy_config *c = eddy_config_load_string("fuzz.yaml", text, envp, err, sizeof err);
	eddy_config_destroy(c);
	free(text);
	return 0;
}
