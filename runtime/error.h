/* SPDX-License-Identifier: MIT */
/*
 * vigil's error codes. A function that can fail returns 0 or a negative code: either -errno
 * passed through from the system, or one of the VG_E* codes below (-4000 to -4099). The table
 * is the single definition; it generates the enum, vg_strerror() and vg_err_name().
 * Thread: any.
 */
#ifndef VG_RUNTIME_ERROR_H
#define VG_RUNTIME_ERROR_H

/* X(name, value, message) */
#define VG_ERROR_TABLE(X)                                                                          \
    X(VG_ENOTFOUND, -4000, "not found")                                                            \
    X(VG_EMAILBOX_FULL, -4001, "mailbox full")                                                     \
    X(VG_ESTOPPED, -4002, "stopped")                                                               \
    X(VG_EINVAL, -4003, "invalid argument")                                                        \
    X(VG_ECORRUPT, -4004, "data corrupt")                                                          \
    X(VG_ETORN, -4005, "torn record")                                                              \
    X(VG_ECONFIG, -4006, "configuration error")                                                    \
    X(VG_EUSAGE, -4007, "usage error")                                                             \
    X(VG_ETOOBIG, -4008, "too big")                                                                \
    X(VG_EEXISTS, -4009, "already exists")                                                         \
    X(VG_ENOTBUILT, -4010, "not built yet")                                                        \
    X(VG_EREADONLY, -4011, "partition is read-only after a write failure")                         \
    X(VG_ESTATE, -4012, "state store error")                                                       \
    X(VG_EMODEL, -4013, "model error")                                                             \
    X(VG_EHTTP, -4014, "http server error")                                                        \
    X(VG_EDECODE, -4015, "cannot decode")                                                          \
    X(VG_ERANGE, -4016, "out of range")                                                            \
    X(VG_EBUSY, -4017, "busy")

enum vg_error {
#define VG_ERROR_ENUM(name, value, msg) name = (value),
    VG_ERROR_TABLE(VG_ERROR_ENUM)
#undef VG_ERROR_ENUM
};

#define VG_EFIRST (-4000)
#define VG_ELAST  (-4099)

/* A human-readable message for `rc` (a VG_E* code, -errno, or 0). Never NULL; static storage. */
const char *vg_strerror(int rc);

/* The symbolic name of `rc` ("VG_ENOTFOUND", "ENOENT", "OK"); static storage, never NULL. */
const char *vg_err_name(int rc);

#endif
