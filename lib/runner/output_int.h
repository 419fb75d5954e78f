/*
 * The per-exec output sink (see output.c).
 */
#ifndef DEVSYS_RUNNER_OUTPUT_INT_H
#define DEVSYS_RUNNER_OUTPUT_INT_H

#include "runner_int.h"

int devsys__runner_io_new(devsys_runner_io **out, const devsys_runner_cmd *cmd, devsys_masker *masker,
                          size_t tail_max);
int devsys__runner_io_finish(devsys_runner_io *io);
int devsys__runner_io_result(devsys_runner_io *io, devsys_runner_result *res);
void devsys__runner_io_free(devsys_runner_io *io);
/* The idle clock starts again (each attempt of an exec). */
void devsys__runner_io_begin(devsys_runner_io *io);
/* Why output stopped: DEVSYS_RUNNER_OUTPUT_LIMIT, _STALLED, _CANCELED (the
 * callback), or DEVSYS_RUNNER_OK. Reads state only (no clock check). */
int devsys__runner_io_stopped_by(const devsys_runner_io *io);

#endif
