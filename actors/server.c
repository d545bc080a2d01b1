/* SPDX-License-Identifier: MIT */
#include "actors/commands.h"

#include <stdio.h>

int vg_cmd_serve(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "vigil %s: not built yet\n", argv[0]);
    return 3;
}

int vg_cmd_demo(int argc, char **argv)
{
    return vg_cmd_serve(argc, argv);
}
