/* Start a process's wall clock at another instant and let it run on: LD_PRELOAD=libclockshift.so SHIFT_TO=<epoch s>.

   Only CLOCK_REALTIME (with time() and gettimeofday()) moves; monotonic clocks, sleeps and timed waits stay real.
   libfaketime 0.9.10 (Debian 12) moves the monotonic clock too, and then Python's timed lock waits
   (Lock.acquire(timeout=...), Barrier.wait(timeout=...)) never return, or, with FAKETIME_DONT_FAKE_MONOTONIC=1,
   time.sleep fails with EINVAL. Used by `make any-hour` (docs/RELIABILITY.md, "Any hour, any date"). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long offset;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

static void bind(void) {
  if (!real_clock_gettime) real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
}

__attribute__((constructor)) static void start(void) {
  const char *to = getenv("SHIFT_TO");
  struct timespec now;
  bind();
  real_clock_gettime(CLOCK_REALTIME, &now);
  if (to) offset = atol(to) - now.tv_sec;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  bind();
  int rc = real_clock_gettime(id, ts);
  if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset;
  return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  struct timespec ts;
  int rc = clock_gettime(CLOCK_REALTIME, &ts);
  (void)tz;
  if (rc == 0) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return rc;
}

time_t time(time_t *out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}
