/* SPDX-License-Identifier: MIT */
/* Accounts picked by the partition the engine routes them to, for tests that need two
 * accounts in one partition or in two. */
#ifndef VG_TESTS_SUPPORT_ACCOUNTS_H
#define VG_TESTS_SUPPORT_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

/* An account other than `acct` whose partition among `nparts` is acct's (same) or another
 * (!same), into out: "<acct>-s<k>" or "<acct>-o<k>". Fails the test when none is found. */
void vg_ta_account_near(unsigned nparts, const char *acct, bool same, char *out, size_t len);

#endif
