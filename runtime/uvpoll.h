/* SPDX-License-Identifier: MIT */
/*
 * The uv_poll_start replacement (runtime/uvpoll.c): it changes an active poll handle's
 * events with one EPOLL_CTL_MOD, or none, where libuv's removes and re-adds the descriptor.
 * uvpoll.c is compiled into each executable, not into a library, and the executable exports
 * uv_poll_start (see CMakeLists.txt).
 */
#ifndef VG_RUNTIME_UVPOLL_H
#define VG_RUNTIME_UVPOLL_H

#include <stdbool.h>

/* True when this process's uv_poll_start is the shim and the shim is on (libuv 1.44). */
bool vg_uvpoll_shim_active(void);

#endif
