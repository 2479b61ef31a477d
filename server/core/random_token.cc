#include "random_token.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace sockwire::core {
namespace {

// /dev/urandom for kernels without getrandom(2) (ENOSYS, seccomp filters).
bool FromUrandom(unsigned char* p, size_t n) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return got == n;
}

}  // namespace

void RandomBytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  size_t got = 0;
  while (got < n) {
    // Flags 0: blocks only until the pool is first initialised at boot.
    ssize_t r = ::getrandom(p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (FromUrandom(p + got, n - got)) return;
    std::fprintf(stderr, "sockwired: no kernel randomness (getrandom and /dev/urandom failed); aborting\n");
    std::abort();
  }
}

std::string RandomHex(size_t bytes) {
  static const char* digits = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  RandomBytes(raw.data(), raw.size());
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

}  // namespace sockwire::core
