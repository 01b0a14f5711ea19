// static_standins.cc — stand-ins that keep library code byed never runs out
// of the static binary (linked only with BYED_STATIC).
//
// A static link takes whole archive members. Debian's libuv_a.a is built
// without -ffunction-sections, so each libuv object byed needs brings every
// function in it, and with them the glibc functions those call: getpwuid_r
// (uv_os_get_passwd) brings NSS, the DNS resolver and static dlopen;
// sscanf/fscanf (uv_cpu_info, uv_loadavg, ...) and pathconf (uv_fs_*)
// glibc's scanf; pthread_create and the semaphores (the thread pool) the
// thread start-up code; getifaddrs and if_nametoindex the netlink code.
// byed calls only uv_loop_init, uv_run, uv_stop, uv_loop_close,
// uv_poll_{init,start,stop}, uv_timer_{init,start}, uv_close and
// uv_strerror; following the calls (and the function pointers) from those
// through libuv's objects reaches none of the functions below.
//
// CMakeLists.txt renames, in a copy of libuv_a.a only, each reference to
// NAME into byed_uv_unlinked_NAME (objcopy --redefine-syms; the list is
// read from this file), so byed's own calls still get glibc's functions.
// Each stand-in fails with ENOSYS: if one became reachable, libuv would
// report that error instead of doing the work. So a new uv_ function in
// byed's sources fails tests/integration/test_static_standins.py until its
// paths through libuv are checked the same way.
//
// __strftime_l and __wcsftime_l are what libstdc++'s time_put facets call;
// every C++ stream constructs those facets, byed never formats a time with
// them (rfc3339 computes the date itself), and the real ones link glibc's
// time zone code and scanf.
//
// The terminate handler: libstdc++'s default one demangles the type of the
// uncaught exception, which links the C++ demangler (~50 kB). This one
// prints the same two lines with the type's mangled name, then aborts.
#include <cxxabi.h>
#include <errno.h>
#include <ifaddrs.h>
#include <locale.h>
#include <pwd.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <exception>
#include <typeinfo>

extern "C" {

// libuv: uv_os_get_passwd, uv_os_homedir.
int byed_uv_unlinked_getpwuid_r(uid_t, passwd*, char*, size_t,
                                passwd** result) {
  *result = nullptr;
  return ENOSYS;
}

// libuv: uv_cpu_info, uv_loadavg, uv_uptime, uv_get_*_memory.
int byed_uv_unlinked_sscanf(const char*, const char*, ...) {
  errno = ENOSYS;
  return EOF;
}
int byed_uv_unlinked_fscanf(FILE*, const char*, ...) {
  errno = ENOSYS;
  return EOF;
}

// libuv: uv_interface_addresses, uv_ip6_addr with a %scope,
// uv_if_indextoname (glibc's netlink code).
int byed_uv_unlinked_getifaddrs(ifaddrs** list) {
  *list = nullptr;
  errno = ENOSYS;
  return -1;
}
void byed_uv_unlinked_freeifaddrs(ifaddrs*) {}
unsigned byed_uv_unlinked_if_nametoindex(const char*) {
  errno = ENOSYS;
  return 0;
}
char* byed_uv_unlinked_if_indextoname(unsigned, char*) {
  errno = ENOSYS;
  return nullptr;
}

// libuv: uv_fs_read/uv_fs_readlink (buffer sizes).
long byed_uv_unlinked_pathconf(const char*, int) {
  errno = ENOSYS;
  return -1;
}

// libuv: the thread pool (uv_queue_work, uv_fs_* with a callback,
// uv_getaddrinfo, uv_random) and uv_thread_create.
int byed_uv_unlinked_pthread_create(pthread_t*, const pthread_attr_t*,
                                    void* (*)(void*), void*) {
  return ENOSYS;
}
int byed_uv_unlinked_sem_init(sem_t*, int, unsigned) {
  errno = ENOSYS;
  return -1;
}
int byed_uv_unlinked_sem_destroy(sem_t*) {
  errno = ENOSYS;
  return -1;
}
int byed_uv_unlinked_sem_post(sem_t*) {
  errno = ENOSYS;
  return -1;
}
int byed_uv_unlinked_sem_wait(sem_t*) {
  errno = ENOSYS;
  return -1;
}
int byed_uv_unlinked_sem_trywait(sem_t*) {
  errno = ENOSYS;
  return -1;
}

// libuv: uv_spawn (byed spawns its children itself).
int byed_uv_unlinked_execvp(const char*, char* const*) {
  errno = ENOSYS;
  return -1;
}

// libuv: uv_fs_scandir, uv_fs_realpath, uv_exepath, uv_tty_init.
int byed_uv_unlinked_scandir64(const char*, void*, void*, void*) {
  errno = ENOSYS;
  return -1;
}
char* byed_uv_unlinked_realpath(const char*, char*) {
  errno = ENOSYS;
  return nullptr;
}
char* byed_uv_unlinked___realpath_chk(const char*, char*, size_t) {
  errno = ENOSYS;
  return nullptr;
}
int byed_uv_unlinked_ttyname_r(int, char*, size_t) { return ENOSYS; }

// libstdc++: std::time_put<char> and <wchar_t>.
size_t __strftime_l(char*, size_t, const char*, const tm*, locale_t) {
  return 0;
}
size_t __wcsftime_l(wchar_t*, size_t, const wchar_t*, const tm*, locale_t) {
  return 0;
}

}  // extern "C"

namespace {

void put(const char* s) {
  ssize_t r = write(STDERR_FILENO, s, strlen(s));
  (void)r;
}

[[noreturn]] void terminate_handler() {
  static bool terminating = false;
  if (terminating) {
    put("terminate called recursively\n");
    abort();
  }
  terminating = true;
  const std::type_info* t = abi::__cxa_current_exception_type();
  if (t == nullptr) {
    put("terminate called without an active exception\n");
    abort();
  }
  const char* name = t->name();
  if (*name == '*') ++name;
  put("terminate called after throwing an instance of '");
  put(name);
  put("'\n");
  try {
    throw;
  } catch (const std::exception& e) {
    put("  what():  ");
    put(e.what());
    put("\n");
  } catch (...) {
  }
  abort();
}

}  // namespace

// libstdc++ keeps the handler std::terminate calls in this variable; with
// it defined here, the archive member that defines it (and names the
// demangling handler) is not linked.
namespace __cxxabiv1 {
std::terminate_handler __terminate_handler = terminate_handler;
}
