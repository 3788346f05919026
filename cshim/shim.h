/* Internal declarations shared by the C half of the shim and Go. */
#ifndef FFITEL_SHIM_H
#define FFITEL_SHIM_H
#include <stddef.h>
#include <stdint.h>

/* Sets the calling thread's ffitel_last_error message (copied). */
__attribute__((visibility("hidden"))) void ffitel_shim_set_error(const char *msg, size_t len);
/* Copies src[0:len] into buf (cap bytes, NUL-terminated when cap > 0). */
__attribute__((visibility("hidden"))) void ffitel_shim_copy_out(char *buf, size_t cap, const char *src, size_t len);

/* The wall clock in nanoseconds since the epoch (0 if it cannot be read). */
__attribute__((visibility("hidden"))) int64_t ffitel_shim_now_ns(void);
/* 1 in a child forked after load (the fork guard of guard.c). */
__attribute__((visibility("hidden"))) int ffitel_shim_forked(void);
/* Sets the forked-child error message and returns FFITEL_E_FORKED. */
__attribute__((visibility("hidden"))) int ffitel_shim_forked_error(void);

#endif
