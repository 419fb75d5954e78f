/* Internal interface of the report module for record/store/devsysd. */
#ifndef DEVSYS_REPORT_INT_H
#define DEVSYS_REPORT_INT_H

#include <jansson.h>
#include "devsys/report.h"

/* The summary object (see devsys_report_summary_json); NULL on OOM. */
json_t *devsys__report_summary(const devsys_report *r);

int devsys__report_global_init(void);
void devsys__report_global_shutdown(void);

#endif
