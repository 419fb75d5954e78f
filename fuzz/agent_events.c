/*
 * Fuzz target: the opencode adapter's event-line parser
 * (lib/agent/opencode/events.c). Input: bytes split at '\n' into lines, as
 * the adapter receives them. Each line parses (0) or is refused
 * (DEVSYS_EPARSE), never anything else; a parsed event has a known type,
 * bounded NUL-terminated strings and non-negative finite figures; parsing
 * the same line twice gives the same event.
 */
#include "core/core.h"
#include "agent/opencode/opencode_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, size_t len)
{
	devsys__oc_event a, b;
	int rc = devsys__oc_event_parse(&a, line, len);
	if (rc != 0 && rc != DEVSYS_EPARSE)
		__builtin_trap();
	if (rc != 0)
		return;
	if (a.type < DEVSYS__OC_OTHER || a.type > DEVSYS__OC_ERROR)
		__builtin_trap();
	if (memchr(a.tool, '\0', sizeof(a.tool)) == NULL || memchr(a.status, '\0', sizeof(a.status)) == NULL ||
	    memchr(a.path, '\0', sizeof(a.path)) == NULL || memchr(a.message, '\0', sizeof(a.message)) == NULL)
		__builtin_trap();
	if (!(a.cost >= 0) || !isfinite(a.cost))
		__builtin_trap();
	if (a.type == DEVSYS__OC_ERROR && !a.message[0])
		__builtin_trap(); /* an error event always says something */
	if (devsys__oc_event_parse(&b, line, len) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		check_line(p, n);
		p += n + 1;
	}
	return 0;
}
