/* The opencode adapter's event-line parser (events.c), shared with its fuzz target. */
#ifndef DEVSYS_OPENCODE_INT_H
#define DEVSYS_OPENCODE_INT_H

#include <stddef.h>
#include <stdint.h>

enum { DEVSYS__OC_OTHER = 0, DEVSYS__OC_STEP_START, DEVSYS__OC_TEXT, DEVSYS__OC_TOOL_USE, DEVSYS__OC_STEP_FINISH,
       DEVSYS__OC_ERROR };

typedef struct devsys__oc_event {
	int type;         /* DEVSYS__OC_* */
	uint64_t tokens;  /* step_finish */
	double cost;      /* step_finish */
	char tool[64];    /* tool_use: "write", "edit", "bash", ... */
	char status[32];  /* tool_use: "completed", "error" */
	char path[1024];  /* tool_use: the file it named, or "" */
	char message[512]; /* error */
} devsys__oc_event;

/* Parse one event line (no newline). 0, or DEVSYS_EPARSE when it is not a JSON object. */
int devsys__oc_event_parse(devsys__oc_event *ev, const char *line, size_t len);

#endif
