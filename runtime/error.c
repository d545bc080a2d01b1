/* SPDX-License-Identifier: MIT */
/*
 * vg_strerror() and vg_err_name(), generated from the table in error.h. Thread: any.
 */
#include "runtime/error.h"

#include <string.h>

#include <uv.h>

const char *vg_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
#define VG_ERROR_MSG(name, value, msg)                                                             \
    case name:                                                                                     \
        return msg;
        VG_ERROR_TABLE(VG_ERROR_MSG)
#undef VG_ERROR_MSG
    default:
        break;
    }
    /* libuv's negative codes are -errno on Unix; uv_strerror is thread-safe, strerror is not. */
    return rc < 0 ? uv_strerror(rc) : "unknown error";
}

const char *vg_err_name(int rc)
{
    switch (rc) {
    case 0:
        return "OK";
#define VG_ERROR_NAME(name, value, msg)                                                            \
    case name:                                                                                     \
        return #name;
        VG_ERROR_TABLE(VG_ERROR_NAME)
#undef VG_ERROR_NAME
    default:
        break;
    }
    return rc < 0 ? uv_err_name(rc) : "UNKNOWN";
}
