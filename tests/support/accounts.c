/* SPDX-License-Identifier: MIT */
#include "tests/support/accounts.h"
#include "actors/route.h"
#include "tests/vg_test.h"

#include <stdio.h>

void vg_ta_account_near(unsigned nparts, const char *acct, bool same, char *out, size_t len)
{
    unsigned want = vg_route_account(nparts, acct);
    for (int k = 0; k < 1000; k++) {
        snprintf(out, len, "%s-%s%d", acct, same ? "s" : "o", k);
        if ((vg_route_account(nparts, out) == want) == same)
            return;
    }
    VG_FAIL("no account near %s", acct);
}
