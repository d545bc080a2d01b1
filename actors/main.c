/* SPDX-License-Identifier: MIT */
#include "runtime/logging.h"

int main(void)
{
    VG_LOG_INFO("placeholder");
    return 0;
}
