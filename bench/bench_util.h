// Shared pieces of the sockwire benchmark: byte streams over each path, the
// checksum, the target peer, and process helpers.
#pragma once

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sockwire::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] inline void Die(const std::string& what) { throw std::runtime_error(what); }
[[noreturn]] inline void DieErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + strerror(errno));
}

// Fletcher-style checksum over 64-bit little-endian words of the stream,
// independent of how the stream is cut into reads and writes.
class Sum {
 public:
  void Add(const char* p, size_t n) {
    count_ += n;
    while (n > 0 && fill_ != 0) {
      word_ |= static_cast<uint64_t>(static_cast<unsigned char>(*p++)) << (8 * fill_);
      --n;
      if (++fill_ == 8) Flush();
    }
    while (n >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      a_ += w;
      b_ += a_;
      p += 8;
      n -= 8;
    }
    while (n > 0) {
      word_ |= static_cast<uint64_t>(static_cast<unsigned char>(*p++)) << (8 * fill_);
      --n;
      if (++fill_ == 8) Flush();
    }
  }
  // count, a, b (with the partial word folded in).
  void Final(uint64_t out[3]) const {
    uint64_t a = a_, b = b_;
    if (fill_ != 0) {
      a += word_ + fill_;
      b += a;
    }
    out[0] = count_;
    out[1] = a;
    out[2] = b;
  }

 private:
  void Flush() {
    a_ += word_;
    b_ += a_;
    word_ = 0;
    fill_ = 0;
  }
  uint64_t a_ = 0, b_ = 0, word_ = 0, count_ = 0;
  int fill_ = 0;
};

// A byte stream to the target peer, through one path.
class Conn {
 public:
  virtual ~Conn() = default;
  virtual void Write(const char* p, size_t n) = 0;  // Everything, or throws.
  virtual size_t Read(char* p, size_t n) = 0;       // > 0, or 0 at EOF; throws on error.
  virtual void ShutdownWrite() = 0;

  void ReadExactly(char* p, size_t n) {
    while (n > 0) {
      size_t k = Read(p, n);
      if (k == 0) Die("unexpected EOF");
      p += k;
      n -= k;
    }
  }
};

// A plain descriptor (blocking or not: EAGAIN waits in poll).
class FdConn : public Conn {
 public:
  explicit FdConn(int fd) : fd_(fd) {}
  ~FdConn() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void Write(const char* p, size_t n) override {
    while (n > 0) {
      ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k > 0) {
        p += k;
        n -= static_cast<size_t>(k);
      } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        Wait(POLLOUT);
      } else if (k < 0 && errno != EINTR) {
        DieErrno("send");
      }
    }
  }
  size_t Read(char* p, size_t n) override {
    for (;;) {
      ssize_t k = ::recv(fd_, p, n, 0);
      if (k >= 0) return static_cast<size_t>(k);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        Wait(POLLIN);
      } else if (errno != EINTR) {
        DieErrno("recv");
      }
    }
  }
  void ShutdownWrite() override { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }

 private:
  void Wait(short ev) {
    pollfd p{fd_, ev, 0};
    ::poll(&p, 1, -1);
  }
  int fd_;
};

// TCP connect to 127.0.0.1:port (blocking, TCP_NODELAY).
int ConnectTcp(int port);
// Unix stream connect.
int ConnectUnix(const std::string& path);
// A free 127.0.0.1 TCP port (bind port 0, read it, close).
int FreePort();
// Waits until 127.0.0.1:port accepts (up to `seconds`).
bool WaitForPort(int port, double seconds);

// The peer every path reaches: a TCP server on 127.0.0.1. The first byte of
// each connection picks the mode: 'E' echo; 'S' sink (reads to EOF, then
// writes count/a/b of Sum as 24 bytes and closes); 'L' sink of a length
// given as 8 bytes (answers the same 24 bytes once it has them all).
class Target {
 public:
  Target();
  ~Target();
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A child process; killed (SIGTERM, then SIGKILL) and reaped by the destructor.
class Child {
 public:
  Child() = default;
  explicit Child(const std::vector<std::string>& argv, int keep_fd = -1, bool quiet = true);
  ~Child();
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    std::swap(pid_, o.pid_);
    return *this;
  }
  pid_t pid() const { return pid_; }
  bool alive() const;

 private:
  pid_t pid_ = -1;
};

// "/usr/sbin/danted" etc. when found on PATH (plus /usr/sbin, /sbin), else "".
std::string FindProgram(const std::string& name);

// From /proc/PID/status: VmRSS in KiB and Threads.
long RssKib(pid_t pid);
int Threads(pid_t pid);

}  // namespace sockwire::bench
