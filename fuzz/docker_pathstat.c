/*
 * Fuzz target: the engine's path stat header (X-Docker-Container-Path-Stat,
 * base64 JSON), which decides whether a download is a file or a directory.
 * Checks: no crash, and an accepted header always says one or the other.
 */
#include "runner/docker/client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	bool is_dir = false;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (devsys__docker_path_stat_parse(&is_dir, s) == 0 && is_dir != true && is_dir != false)
		__builtin_trap();
	free(s);
	return 0;
}
