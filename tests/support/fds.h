/* SPDX-License-Identifier: MIT */
/* Running a process out of file descriptors, for tests of what a server does then. */
#ifndef VG_TESTS_SUPPORT_FDS_H
#define VG_TESTS_SUPPORT_FDS_H

#include <stddef.h>
#include <sys/resource.h>

typedef struct vg_tf_exhausted {
    struct rlimit old; /* the limit before */
    int fill[512];     /* descriptors of /dev/null taking every free slot */
    size_t n;
} vg_tf_exhausted_t;

/* Lowers the soft limit on descriptors to at most 512 and opens /dev/null until none is free
 * (fails the test unless the last open failed with EMFILE). */
void vg_tf_exhaust(vg_tf_exhausted_t *x);

/* Closes what vg_tf_exhaust opened and puts the limit back. */
void vg_tf_restore(vg_tf_exhausted_t *x);

#endif
