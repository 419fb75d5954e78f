/*
 * What the pipeline offers the worker (lib/worker) besides its public API.
 */
#ifndef DEVSYS_PIPELINE_HOLD_H
#define DEVSYS_PIPELINE_HOLD_H

#include "devsys/pipeline.h"

/*
 * From any thread: the run of @p p begins no further stage; the one under
 * way goes on unless devsys_pipeline_cancel() stops it too, and the run then
 * returns DEVSYS_ECANCELED. Unlike a cancel, nothing ends the task: a
 * worker whose task was handed back (or whose lease was lost) holds its
 * run so that no stage of it starts without the task. The hold sticks: the
 * pipeline is not used again.
 */
void devsys__pipeline_hold(devsys_pipeline *p);

#endif
