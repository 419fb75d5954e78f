/*
 * libdevsys - common definitions shared by every public header.
 *
 * Copyright (c) the libdevsys developers. See LICENSE.
 */
#ifndef DEVSYS_COMMON_H
#define DEVSYS_COMMON_H

#include <stddef.h>
#include <stdint.h>

/**
 * @file devsys/common.h
 * @brief Export macros and C/C++ linkage helpers.
 *
 * DEVSYS_API marks every exported function. The library is built with
 * -fvisibility=hidden, so anything without DEVSYS_API stays private.
 * Define DEVSYS_STATIC when linking the static library on platforms where
 * the export attribute matters.
 */
#if defined(DEVSYS_BUILDING) && defined(__GNUC__)
#define DEVSYS_API __attribute__((visibility("default")))
#else
#define DEVSYS_API
#endif

#ifdef __cplusplus
#define DEVSYS_BEGIN_DECL extern "C" {
#define DEVSYS_END_DECL }
#else
#define DEVSYS_BEGIN_DECL
#define DEVSYS_END_DECL
#endif

#if defined(__GNUC__)
#define DEVSYS_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#else
#define DEVSYS_PRINTF(fmt_idx, args_idx)
#endif

#endif /* DEVSYS_COMMON_H */
