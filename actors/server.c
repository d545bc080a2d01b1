/* SPDX-License-Identifier: MIT */
#include "actors/commands.h"

#include <stdio.h>
#include <string.h>

int vg_cmd_serve(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: vigil %s [flags]\n\nNot built yet.\n", argv[0]);
        return 0;
    }
    fprintf(stderr, "vigil %s: not built yet\n", argv[0]);
    return 3;
}

int vg_cmd_demo(int argc, char **argv)
{
    return vg_cmd_serve(argc, argv);
}
