/*
 * The spool's writer (FFITEL_SPOOL_DIR; docs/SPOOL.md): every log record is
 * appended to a memory-mapped segment file before the host's call returns,
 * without entering Go, so that it survives the process (SIGKILL, OOM kill, a
 * segfault): the page cache outlives the process. Go (bootstrap/spool.go)
 * ships the segments and records what the collector acknowledged in their
 * headers; the next process adopts the segments of a dead owner.
 *
 * A process holds an advisory lock (flock) on its owner file
 * <dir>/ffitel-<pid>-<ns>.lock while it lives; its segments are
 * <dir>/ffitel-<pid>-<ns>-<seq>.seg. The format (little-endian) is
 * internal/spool's:
 *
 *   header (4096 bytes): magic "FFSPOOL1", u32 version, u32 header size,
 *     u64 committed (end of the records), u64 shipped, u64 inflight,
 *     u32 sealed, u32 pid, i64 created, u32 resource length, u32 resource
 *     CRC, the resource block.
 *   records from offset 4096: u32 length, u32 CRC-32C of the payload, the
 *     payload, padded to 8 bytes. A zero length ends the segment.
 *
 * No fsync on the hot path: a machine crash can lose what the kernel had
 * not written back (the shipper's periodic fsync bounds that, docs/SPOOL.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"
#include "spool.h"

#define HDR 4096u
#define OFF_COMMITTED 16
#define OFF_SEALED 40
#define OFF_RES 64
#define KIND_LOG 1
#define MAX_ATTRS 128
#define MAX_TEXT (64u << 10)

static pthread_mutex_t sp_mu = PTHREAD_MUTEX_INITIALIZER;
static int sp_on; /* read without the lock as a hint, re-checked under it */
static int32_t sp_threshold = 1 << 30;
static char sp_dir[PATH_MAX - 64];
static char sp_key[64];
static unsigned char sp_res[HDR - OFF_RES];
static uint32_t sp_res_len;
static int sp_lock_fd = -1;
static unsigned char *sp_map;
static uint64_t sp_off, sp_seg_size, sp_max;
static uint32_t sp_seq;
static uint64_t sp_sealed_bytes, sp_freed_own, sp_other_bytes;
static uint64_t sp_written, sp_refused;
static int64_t sp_created;
static __thread int sp_mark;
static uint64_t sp_populated, sp_dropped; /* the current segment's mapped-ahead end, dropped-behind end */
static int sp_prefaulting;                  /* ffitel_shim_spool_prefault is at work on sp_prefault_map */
static unsigned char *sp_prefault_map;
/* Sealed segments' mappings, unmapped by the shipper's thread (munmap is
 * not the host thread's work); the segment size is the same for all. */
#define RETIRED 2
static unsigned char *sp_retired[RETIRED];
/* The spare segment: segment sp_seq + 1, made ready by the shipper's thread
 * (created, sized, header written, renamed to its .seg name, mapped, its
 * first 2 MB mapped in), so that rotation on the host thread is a
 * pointer swap. sp_making is the sequence being made (0: none): a rotation
 * meanwhile skips that number (the spare, then stale, is deleted). */
static unsigned char *sp_spare;
static uint32_t sp_spare_seq, sp_making;
static uint64_t sp_spare_populated, sp_swaps, sp_gen;
/* Fork (spool_fork.c): a child forked after load writes its own segment,
 * opened on its first record; 0 until then. */
static int sp_child_ready = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void at_prepare(void) { pthread_mutex_lock(&sp_mu); }
static void at_parent(void) { pthread_mutex_unlock(&sp_mu); }
static void at_child(void) {
    /* Let go of the parent's files at once: a child holding the parent's
     * lock (a shared open file description) would keep the parent's
     * segments from being adopted if the parent died first. */
    if (sp_map) munmap(sp_map, sp_seg_size);
    for (int i = 0; i < RETIRED; i++) {
        if (sp_retired[i]) munmap(sp_retired[i], sp_seg_size);
        sp_retired[i] = NULL;
    }
    /* The parent's spare is the parent's: the child makes its own segments. */
    if (sp_spare) munmap(sp_spare, sp_seg_size);
    if (sp_lock_fd >= 0) close(sp_lock_fd);
    sp_map = sp_prefault_map = sp_spare = NULL;
    sp_making = 0;
    sp_prefaulting = 0;
    sp_lock_fd = -1;
    sp_child_ready = 0;
    pthread_mutex_unlock(&sp_mu);
}
static void atfork_init(void) { pthread_atfork(at_prepare, at_parent, at_child); }

/* Span handle -> trace and span ids, so that a record naming an open span
 * carries its ids without asking Go. Like ring.c's table: a slot holds the
 * handle itself (handles are never reused). */
#define ID_SLOTS (1u << 16)
typedef struct {
    uint64_t h;
    unsigned char ids[25]; /* trace id, span id, trace flags */
} span_ids;
static span_ids *sp_ids;
/* A forked child's own spans (spool_fork.c: handles with bit 56 set) have
 * their own table, so that they never take the slot of a span the parent
 * opened before the fork (the child's spans may be its children). */
#define CHILD_BIT (UINT64_C(1) << 56)
#define CHILD_ID_SLOTS 4096u
static span_ids sp_cids[CHILD_ID_SLOTS];
static span_ids *ids_slot(uint64_t h) { return h & CHILD_BIT ? &sp_cids[h % CHILD_ID_SLOTS] : &sp_ids[h % ID_SLOTS]; }

/* CRC-32C: SSE4.2 where the CPU has it, a table otherwise. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* clang (zig cc, the release build) names the CRC32 instructions' feature
 * apart from SSE4.2; gcc takes them with sse4.2. Used only when the CPU
 * says it has them (crc_hw). */
#if defined(__clang__)
#define FFITEL_CRC_TARGET __attribute__((target("sse4.2,crc32")))
#else
#define FFITEL_CRC_TARGET __attribute__((target("sse4.2")))
#endif
FFITEL_CRC_TARGET static uint32_t crc_sse42(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif
uint32_t ffitel_shim_crc32c(const unsigned char *p, size_t n) {
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xFFFFFFFFu;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (crc_hw) return ~crc_sse42(c, p, n);
#endif
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Maps the next megabyte of the segment, from offset from, in one call
 * rather than one page fault per page on the host thread (page faults are
 * most of the write's cost otherwise, in a VM especially). Linux 5.14+;
 * elsewhere the pages fault in as they are written. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static uint64_t sp_page = 4096; /* the page size, set by ffitel_shim_spool_open */
static uint64_t page_size(void) { return sp_page; }
static void populate(uint64_t from) {
    if (from >= sp_seg_size) return;
    uint64_t len = sp_seg_size - from < (1u << 20) ? sp_seg_size - from : (1u << 20);
    (void)madvise(sp_map + from, len, MADV_POPULATE_WRITE);
    sp_populated = from + len;
}

/* A segment header (all of it but the magic) for this process. Caller
 * holds sp_mu. */
static void header_fill(unsigned char *h) {
    put32(h + 8, 1);   /* version */
    put32(h + 12, HDR);
    put64(h + 16, HDR); /* committed */
    put64(h + 24, HDR); /* shipped */
    put64(h + 32, HDR); /* inflight */
    put32(h + 40, 0);
    put32(h + 44, (uint32_t)getpid());
    put64(h + 48, (uint64_t)sp_created);
    put32(h + 56, sp_res_len);
    put32(h + 60, ffitel_shim_crc32c(sp_res, sp_res_len));
    memcpy(h + OFF_RES, sp_res, sp_res_len);
}

/* Opens segment sp_seq, mapped, on the calling (host) thread: the path when
 * no spare is ready. Caller holds sp_mu (or is opening). */
static int segment_open(void) {
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s-%08u.seg", sp_dir, sp_key, sp_seq);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)sp_seg_size) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return -1;
    }
    void *m = mmap(NULL, sp_seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return -1;
    }
    close(fd); /* the mapping keeps the file */
    unsigned char *h = m;
    header_fill(h);
    memcpy(h, "FFSPOOL1", 8); /* last: a reader never sees a half-made header as valid */
    sp_map = m;
    sp_off = HDR;
    sp_dropped = 0;
    populate(0);
    return 0;
}

/* Hands a sealed segment's mapping to the shipper's thread to unmap (it
 * may be mapping pages ahead in it right now). With no slot free, one that
 * thread is not working on is unmapped here. Caller holds sp_mu. */
static void retire(unsigned char *m) {
    for (int i = 0; i < RETIRED; i++)
        if (sp_retired[i] == NULL) {
            sp_retired[i] = m;
            return;
        }
    for (int i = 0; i < RETIRED; i++)
        if (!sp_prefaulting || sp_retired[i] != sp_prefault_map) {
            munmap(sp_retired[i], sp_seg_size);
            sp_retired[i] = m;
            return;
        }
}

/* Seals the current segment. Caller holds sp_mu. */
static void segment_seal(void) {
    if (sp_map == NULL) return;
    __atomic_store_n((uint32_t *)(sp_map + OFF_SEALED), 1, __ATOMIC_RELEASE);
    retire(sp_map);
    sp_sealed_bytes += sp_off;
    sp_map = NULL;
}

/* Deletes the spare (the writer stops: seal, close).
 * Caller holds sp_mu. */
static void spare_drop(void) {
    if (sp_spare == NULL) return;
    munmap(sp_spare, sp_seg_size);
    sp_spare = NULL;
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s-%08u.seg", sp_dir, sp_key, sp_spare_seq);
    unlink(path);
}

/* Unmaps what retire() left, unless the shipper's thread is at work in it.
 * Caller holds sp_mu (seal, close). */
static void retired_unmap(void) {
    for (int i = 0; i < RETIRED; i++)
        if (sp_retired[i] && (!sp_prefaulting || sp_retired[i] != sp_prefault_map)) {
            munmap(sp_retired[i], sp_seg_size);
            sp_retired[i] = NULL;
        }
}

int ffitel_shim_spool_open(const char *dir, const unsigned char *res, size_t res_len, uint64_t max_bytes,
                           uint64_t seg_size, int32_t threshold, char *key) {
    pthread_once(&crc_once, crc_init);
    if (strlen(dir) >= sizeof sp_dir || res_len > sizeof sp_res || seg_size < 2 * HDR) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&sp_mu);
    if (sp_on || sp_lock_fd >= 0) {
        pthread_mutex_unlock(&sp_mu);
        errno = EALREADY;
        return -1;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) sp_page = (uint64_t)page;
    (void)mkdir(dir, 0700);
    strcpy(sp_dir, dir);
    memcpy(sp_res, res, res_len);
    sp_res_len = (uint32_t)res_len;
    sp_created = ffitel_shim_now_ns();
    snprintf(sp_key, sizeof sp_key, "ffitel-%d-%lld", (int)getpid(), (long long)sp_created);
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s.lock", sp_dir, sp_key);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        pthread_mutex_unlock(&sp_mu);
        errno = e;
        return -1;
    }
    if (sp_ids == NULL) sp_ids = calloc(ID_SLOTS, sizeof *sp_ids);
    sp_lock_fd = fd;
    sp_seg_size = seg_size;
    sp_max = max_bytes;
    sp_seq = 0;
    if (sp_ids == NULL || segment_open() != 0) {
        int e = sp_ids == NULL ? ENOMEM : errno;
        close(fd);
        unlink(path);
        sp_lock_fd = -1;
        pthread_mutex_unlock(&sp_mu);
        errno = e;
        return -1;
    }
    sp_threshold = threshold;
    sp_gen++;
    pthread_once(&atfork_once, atfork_init);
    __atomic_store_n(&sp_on, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sp_mu);
    strcpy(key, sp_key);
    return 0;
}

void ffitel_shim_spool_seal(void) {
    pthread_mutex_lock(&sp_mu);
    __atomic_store_n(&sp_on, 0, __ATOMIC_RELEASE);
    segment_seal();
    spare_drop();
    retired_unmap();
    pthread_mutex_unlock(&sp_mu);
}

void ffitel_shim_spool_close(void) {
    pthread_mutex_lock(&sp_mu);
    __atomic_store_n(&sp_on, 0, __ATOMIC_RELEASE);
    segment_seal();
    spare_drop();
    retired_unmap();
    sp_gen++;
    if (sp_lock_fd >= 0) {
        close(sp_lock_fd); /* releases the lock: what is left is adopted by the next process */
        sp_lock_fd = -1;
    }
    pthread_mutex_unlock(&sp_mu);
}

/* Room for a frame of total bytes in the current segment, rotating if
 * needed. Returns the write position, or NULL with *refused set when the
 * directory is at its cap. Caller holds sp_mu. */
static unsigned char *reserve(size_t total, int *refused) {
    *refused = 0;
    if (sp_map == NULL || total > sp_seg_size - HDR - 8) return NULL;
    uint64_t own = sp_sealed_bytes - sp_freed_own + sp_off;
    int rotate = sp_off + total + 8 > sp_seg_size; /* keep 8 zero bytes: the end mark */
    if (sp_other_bytes + own + total + (rotate ? HDR : 0) > sp_max) {
        *refused = 1;
        return NULL;
    }
    if (rotate) {
        segment_seal();
        if (sp_spare != NULL && sp_spare_seq == sp_seq + 1) {
            /* Made ready by the shipper's thread: a pointer swap. */
            sp_map = sp_spare;
            sp_spare = NULL;
            sp_seq = sp_spare_seq;
            sp_off = HDR;
            sp_dropped = 0;
            sp_populated = sp_spare_populated;
            sp_swaps++;
        } else {
            /* None ready: made here. The number being made by the shipper
             * (if any) is skipped: that spare comes too late and is deleted. */
            sp_seq += sp_making == sp_seq + 1 ? 2 : 1;
            if (segment_open() != 0) return NULL;
        }
    }
    return sp_map + sp_off;
}

/* Publishes the frame at p (payload already written): CRC, length, then
 * the committed offset. Caller holds sp_mu. */
static void commit(unsigned char *p, size_t payload, size_t total) {
    put32(p + 4, ffitel_shim_crc32c(p + 8, payload));
    __atomic_store_n((uint32_t *)p, (uint32_t)payload, __ATOMIC_RELEASE);
    sp_off += total;
    __atomic_store_n((uint64_t *)(sp_map + OFF_COMMITTED), sp_off, __ATOMIC_RELEASE);
    sp_written++;
    /* ffitel_shim_spool_prefault (the shipper's thread) maps pages ahead;
     * if it fell behind, this thread maps the next megabyte in one call. */
    if (sp_off + (64u << 10) > sp_populated) populate(sp_populated);
    /* The lines the next records will be written to, fetched meanwhile
     * (a write to a cold line otherwise waits for it at the next lock). */
    if (sp_off + 1024 < sp_seg_size) {
        __builtin_prefetch(sp_map + sp_off + 512, 1, 3);
        __builtin_prefetch(sp_map + sp_off + 576, 1, 3);
        __builtin_prefetch(sp_map + sp_off + 640, 1, 3);
    }
}

static int finish_refused(void) {
    sp_refused++;
    pthread_mutex_unlock(&sp_mu);
    return FFITEL_SPOOL_REFUSED;
}

int ffitel_shim_spool_log(int32_t severity, const char *msg, size_t msg_len, const ffitel_attr *attrs, size_t n,
                          uint64_t span, int64_t ts) {
    if (!__atomic_load_n(&sp_on, __ATOMIC_ACQUIRE)) return FFITEL_SPOOL_OFF;
    /* What needs the Go path's markers or mapping is left to it (it spools
     * the record it makes): unknown severities, bad text, unknown types,
     * NULLs, sizes past the input limits. */
    if (severity < FFITEL_TRACE || severity > 24) return FFITEL_SPOOL_OFF;
    if (severity < __atomic_load_n(&sp_threshold, __ATOMIC_RELAXED)) return FFITEL_SPOOL_OFF;
    if (n > MAX_ATTRS || (n > 0 && attrs == NULL)) return FFITEL_SPOOL_OFF;
    if (msg_len > MAX_TEXT || !ffitel_shim_text_ok(msg, msg_len)) return FFITEL_SPOOL_OFF;
    ffitel_attr a[MAX_ATTRS];
    size_t payload = 48 + msg_len;
    for (size_t i = 0; i < n; i++) {
        a[i] = attrs[i];
        if (a[i].type < FFITEL_ATTR_STRING || a[i].type > FFITEL_ATTR_BOOL) return FFITEL_SPOOL_OFF;
        if (a[i].type != FFITEL_ATTR_STRING) a[i].str_len = 0;
        if (a[i].key_len > MAX_TEXT || a[i].str_len > (16u << 10) || !ffitel_shim_text_ok(a[i].key, a[i].key_len) ||
            (a[i].type == FFITEL_ATTR_STRING && !ffitel_shim_text_ok(a[i].str, a[i].str_len)))
            return FFITEL_SPOOL_OFF;
        payload += 5 + a[i].key_len + (a[i].type == FFITEL_ATTR_STRING ? 4 + a[i].str_len : 8);
    }
    size_t total = pad8(8 + payload);
    pthread_mutex_lock(&sp_mu);
    int refused;
    unsigned char *p = sp_on ? reserve(total, &refused) : NULL;
    if (p == NULL) {
        if (sp_on && refused) return finish_refused();
        pthread_mutex_unlock(&sp_mu);
        return FFITEL_SPOOL_OFF;
    }
    unsigned char *q = p + 8;
    q[0] = KIND_LOG;
    q[1] = q[2] = q[3] = 0;
    put32(q + 4, (uint32_t)severity);
    put64(q + 8, (uint64_t)ts);
    memset(q + 16, 0, 24);
    if (span != 0) {
        span_ids *e = ids_slot(span);
        if (e->h == span) {
            memcpy(q + 16, e->ids, 24);
            q[1] = e->ids[24];
        }
    }
    put32(q + 40, (uint32_t)msg_len);
    uint16_t na = (uint16_t)n, nf = 0;
    memcpy(q + 44, &na, 2);
    memcpy(q + 46, &nf, 2);
    q += 48;
    if (msg_len) memcpy(q, msg, msg_len);
    q += msg_len;
    for (size_t i = 0; i < n; i++) {
        *q++ = (unsigned char)a[i].type;
        put32(q, (uint32_t)a[i].key_len);
        q += 4;
        if (a[i].key_len) memcpy(q, a[i].key, a[i].key_len);
        q += a[i].key_len;
        switch (a[i].type) {
        case FFITEL_ATTR_STRING:
            put32(q, (uint32_t)a[i].str_len);
            q += 4;
            if (a[i].str_len) memcpy(q, a[i].str, a[i].str_len);
            q += a[i].str_len;
            break;
        case FFITEL_ATTR_DOUBLE:
            memcpy(q, &a[i].d, 8);
            q += 8;
            break;
        default:
            put64(q, (uint64_t)a[i].i);
            q += 8;
        }
    }
    memset(q, 0, (size_t)(p + total - q)); /* the padding */
    commit(p, payload, total);
    pthread_mutex_unlock(&sp_mu);
    return FFITEL_SPOOL_TAKEN;
}

int ffitel_shim_spool_raw(const unsigned char *payload, size_t len) {
    if (!__atomic_load_n(&sp_on, __ATOMIC_ACQUIRE) || (ffitel_shim_forked() && !sp_child_ready))
        return FFITEL_SPOOL_OFF;
    size_t total = pad8(8 + len);
    pthread_mutex_lock(&sp_mu);
    int refused;
    unsigned char *p = sp_on ? reserve(total, &refused) : NULL;
    if (p == NULL) {
        if (sp_on && refused) return finish_refused();
        pthread_mutex_unlock(&sp_mu);
        return FFITEL_SPOOL_OFF;
    }
    memcpy(p + 8, payload, len);
    memset(p + 8 + len, 0, total - 8 - len);
    commit(p, len, total);
    pthread_mutex_unlock(&sp_mu);
    return FFITEL_SPOOL_TAKEN;
}

void ffitel_shim_spool_span_ids(uint64_t h, const unsigned char *ids) {
    if (!__atomic_load_n(&sp_on, __ATOMIC_ACQUIRE) || h == 0) return;
    pthread_mutex_lock(&sp_mu);
    span_ids *e = ids_slot(h);
    e->h = h;
    memcpy(e->ids, ids, 25);
    pthread_mutex_unlock(&sp_mu);
}

void ffitel_shim_spool_budget(uint64_t other_bytes, uint64_t freed_own) {
    pthread_mutex_lock(&sp_mu);
    sp_other_bytes = other_bytes;
    sp_freed_own += freed_own;
    pthread_mutex_unlock(&sp_mu);
}

void ffitel_shim_spool_counts(uint64_t *written, uint64_t *refused, uint64_t *own_bytes, uint32_t *seq) {
    pthread_mutex_lock(&sp_mu);
    *written = sp_written;
    *refused = sp_refused;
    *own_bytes = sp_sealed_bytes - sp_freed_own + (sp_map ? sp_off : 0);
    *seq = sp_seq;
    pthread_mutex_unlock(&sp_mu);
}

int ffitel_shim_spool_marked(void) { return sp_mark; }
void ffitel_shim_spool_mark(int on) { sp_mark = on; }

/* In a child forked after load with the spool on: opens the child's own
 * owner lock and segment on the first call (the parent's mapping and files
 * are let go; the parent's lock stays the parent's). 1 if the child can
 * write, 0 if the spool was off at the fork or cannot be opened. */
int ffitel_shim_spool_child(void) {
    if (!__atomic_load_n(&sp_on, __ATOMIC_ACQUIRE)) return 0;
    if (__atomic_load_n(&sp_child_ready, __ATOMIC_ACQUIRE)) return 1;
    pthread_mutex_lock(&sp_mu);
    if (!sp_child_ready && sp_on) {
        sp_sealed_bytes = sp_freed_own = sp_written = sp_refused = 0;
        sp_created = ffitel_shim_now_ns();
        snprintf(sp_key, sizeof sp_key, "ffitel-%d-%lld", (int)getpid(), (long long)sp_created);
        char path[PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/%s.lock", sp_dir, sp_key);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        sp_seq = 0;
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            sp_lock_fd = fd;
            if (segment_open() == 0) {
                __atomic_store_n(&sp_child_ready, 1, __ATOMIC_RELEASE);
            } else {
                close(fd);
                unlink(path);
                sp_lock_fd = -1;
            }
        } else if (fd >= 0) {
            close(fd);
        }
        if (!sp_child_ready) __atomic_store_n(&sp_on, 0, __ATOMIC_RELEASE);
    }
    int ok = sp_child_ready && sp_on;
    pthread_mutex_unlock(&sp_mu);
    return ok;
}

/* 1 while the writer takes records (phase 2 with the spool on). */
int ffitel_shim_spool_on(void) { return __atomic_load_n(&sp_on, __ATOMIC_ACQUIRE); }

/* Whether a record at severity is wanted (LOG_LEVEL), for the child. */
int ffitel_shim_spool_wants(int32_t severity) { return severity >= __atomic_load_n(&sp_threshold, __ATOMIC_RELAXED); }

/* The ids (25 bytes) noted for span handle h; 0 if none. */
int ffitel_shim_spool_ids_of(uint64_t h, unsigned char *ids) {
    if (sp_ids == NULL || h == 0) return 0;
    pthread_mutex_lock(&sp_mu);
    span_ids *e = ids_slot(h);
    int found = e->h == h;
    if (found) memcpy(ids, e->ids, 25);
    pthread_mutex_unlock(&sp_mu);
    return found;
}

/* Makes segment seq ready as the spare (the shipper's thread, sp_mu not
 * held): created under a .spare name, sized (sparse), its header written
 * whole and synced, renamed to its .seg name (a .seg file always has a
 * valid header), mapped, its first 2 MB mapped in. NULL on failure. */
static unsigned char *spare_make(const char *dir, const char *key, uint32_t seq, uint64_t size,
                                 const unsigned char *hdr) {
    char tmp[PATH_MAX + 128], path[PATH_MAX + 128];
    snprintf(tmp, sizeof tmp, "%s/%s-%08u.spare", dir, key, seq);
    snprintf(path, sizeof path, "%s/%s-%08u.seg", dir, key, seq);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return NULL;
    void *m = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0 && pwrite(fd, hdr, HDR, 0) == (ssize_t)HDR && fdatasync(fd) == 0 &&
        rename(tmp, path) == 0) {
        m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) unlink(path);
    } else {
        unlink(tmp);
    }
    close(fd);
    if (m == MAP_FAILED) return NULL;
    (void)madvise(m, size < (2u << 20) ? size : (2u << 20), MADV_POPULATE_WRITE);
    return m;
}

/* Prepares the spare when the writer is past half its segment and the cap
 * has room for a whole segment more (the spare's pages count once it is in
 * use; an empty spare holds no records: its committed offset is its
 * header). Called from the shipper's thread. */
static void spare_prepare(void) {
    pthread_mutex_lock(&sp_mu);
    uint64_t own = sp_sealed_bytes - sp_freed_own + sp_off;
    if (!sp_on || sp_map == NULL || sp_spare != NULL || sp_making != 0 || ffitel_shim_forked() ||
        sp_off < sp_seg_size / 2 || sp_other_bytes + own + sp_seg_size > sp_max) {
        pthread_mutex_unlock(&sp_mu);
        return;
    }
    uint32_t seq = sp_seq + 1;
    uint64_t gen = sp_gen, size = sp_seg_size;
    static unsigned char hdr[HDR]; /* only this thread makes spares (sp_making) */
    static char dir[sizeof sp_dir], key[sizeof sp_key];
    memset(hdr, 0, sizeof hdr);
    header_fill(hdr);
    memcpy(hdr, "FFSPOOL1", 8);
    strcpy(dir, sp_dir);
    strcpy(key, sp_key);
    sp_making = seq;
    pthread_mutex_unlock(&sp_mu);
    unsigned char *m = spare_make(dir, key, seq, size, hdr);
    pthread_mutex_lock(&sp_mu);
    int keep = m != NULL && sp_making == seq && sp_on && sp_gen == gen && sp_seq + 1 == seq && sp_spare == NULL;
    if (sp_making == seq) sp_making = 0;
    if (keep) {
        sp_spare = m;
        sp_spare_seq = seq;
        sp_spare_populated = size < (2u << 20) ? size : (2u << 20);
    }
    pthread_mutex_unlock(&sp_mu);
    if (m != NULL && !keep) { /* too late: the writer moved on or stopped */
        munmap(m, size);
        char path[PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/%s-%08u.seg", dir, key, seq);
        unlink(path);
    }
}

/* Called from the shipper's thread: maps the next 4 MB of the current
 * segment ahead of the writer and drops the pages behind it from this
 * process's page tables (they stay in the page cache, in the file), so that
 * the host thread neither takes page faults nor grows its resident set;
 * unmaps the segments the writer sealed, and makes the spare ready.
 * madvise runs outside sp_mu: a segment sealed meanwhile is unmapped here,
 * after. */
void ffitel_shim_spool_prefault(void) {
    unsigned char *gone[RETIRED];
    int ngone = 0;
    pthread_mutex_lock(&sp_mu);
    if (!sp_prefaulting) {
        for (int i = 0; i < RETIRED; i++)
            if (sp_retired[i]) {
                gone[ngone++] = sp_retired[i];
                sp_retired[i] = NULL;
            }
    }
    uint64_t size = sp_seg_size;
    if (!sp_on || sp_map == NULL || sp_prefaulting) {
        pthread_mutex_unlock(&sp_mu);
        for (int i = 0; i < ngone; i++) munmap(gone[i], size);
        return;
    }
    unsigned char *map = sp_map;
    uint64_t pop = sp_populated, target = sp_off + (4u << 20), dropped = sp_dropped;
    uint64_t behind = (sp_off >> 20) << 20;
    if (target > sp_seg_size) target = sp_seg_size;
    /* On a page boundary: the next call starts here, and madvise takes
     * page-aligned starts only (EINVAL otherwise: nothing was mapped ahead
     * and the host thread took a page fault per page). */
    target &= ~(uint64_t)(page_size() - 1);
    if (dropped < HDR) dropped = (HDR + page_size() - 1) & ~(page_size() - 1);
    if (target > pop) sp_populated = target;
    if (behind > sp_dropped) sp_dropped = behind;
    sp_prefaulting = 1;
    sp_prefault_map = map;
    pthread_mutex_unlock(&sp_mu);
    for (int i = 0; i < ngone; i++) munmap(gone[i], size);
    if (behind > dropped) (void)madvise(map + dropped, behind - dropped, MADV_DONTNEED);
    if (target > pop) (void)madvise(map + pop, target - pop, MADV_POPULATE_WRITE);
    pthread_mutex_lock(&sp_mu);
    sp_prefaulting = 0;
    sp_prefault_map = NULL;
    pthread_mutex_unlock(&sp_mu);
    spare_prepare();
}

/* Rotations that took the spare (tests, docs/PERFORMANCE.md). */
uint64_t ffitel_shim_spool_swaps(void) {
    pthread_mutex_lock(&sp_mu);
    uint64_t n = sp_swaps;
    pthread_mutex_unlock(&sp_mu);
    return n;
}
