/*
 * libdevsys - umbrella header. Include this one; it includes the rest.
 */
#ifndef DEVSYS_H
#define DEVSYS_H

#include "devsys/common.h"
#include "devsys/version.h"
#include "devsys/features.h"
#include "devsys/errors.h"
#include "devsys/global.h"
#include "devsys/buf.h"
#include "devsys/log.h"
#include "devsys/sys/redactor.h"
#include "devsys/workspace.h"
#include "devsys/task.h"
/* Module headers are appended below, one line per module. */
#include "devsys/spec.h"
#include "devsys/repo.h"
#include "devsys/report.h"
#include "devsys/record.h"
#include "devsys/store.h"
#include "devsys/secrets.h"
#include "devsys/runner.h"
#include "devsys/config.h"
#include "devsys/policy.h"
#include "devsys/forge.h"
#include "devsys/speckit.h"
#include "devsys/pipeline.h"
#include "devsys/worker.h"

#endif /* DEVSYS_H */
