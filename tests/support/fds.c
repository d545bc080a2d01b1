/* SPDX-License-Identifier: MIT */
/* Running out of file descriptors; see fds.h. */
#include "tests/support/fds.h"
#include "runtime/compiler.h"
#include "tests/vg_test.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void vg_tf_exhaust(vg_tf_exhausted_t *x)
{
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &x->old), 0);
    struct rlimit low = x->old;
    if (low.rlim_cur > VG_ARRAY_LEN(x->fill))
        low.rlim_cur = VG_ARRAY_LEN(x->fill);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    x->n = 0;
    while (x->n < VG_ARRAY_LEN(x->fill) &&
           (x->fill[x->n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        x->n++;
    ASSERT_EQ(errno, EMFILE); /* every descriptor is taken */
}

void vg_tf_restore(vg_tf_exhausted_t *x)
{
    for (size_t i = 0; i < x->n; i++)
        (void)close(x->fill[i]); /* /dev/null: nothing to flush */
    x->n = 0;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &x->old), 0);
}
