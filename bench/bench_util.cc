#include "bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace sockwire::bench {

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    DieErrno("connect 127.0.0.1:" + std::to_string(port));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path.data(), std::min(path.size(), sizeof sun.sun_path - 1));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    DieErrno("connect " + path);
  }
  return fd;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  socklen_t len = sizeof sin;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  ::close(fd);
  return ntohs(sin.sin_port);
}

bool WaitForPort(int port, double seconds) {
  auto t0 = Clock::now();
  while (SecondsSince(t0) < seconds) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    ::close(fd);
    if (rc == 0) return true;
    // A third-party daemon gives no readiness signal: poll its port.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

namespace {

void ServeConn(int fd) {
  char mode;
  if (::recv(fd, &mode, 1, MSG_WAITALL) != 1) {
    ::close(fd);
    return;
  }
  std::vector<char> buf(256 << 10);
  if (mode == 'E') {
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      const char* p = buf.data();
      while (n > 0) {
        ssize_t k = ::send(fd, p, static_cast<size_t>(n), MSG_NOSIGNAL);
        if (k <= 0) break;
        p += k;
        n -= k;
      }
      if (n > 0) break;
    }
  } else if (mode == 'L') {
    // Sink of a known length (8 bytes, then the data); no half-close needed,
    // which some relays (microsocks) do not pass on.
    uint64_t want = 0;
    if (::recv(fd, &want, sizeof want, MSG_WAITALL) != sizeof want) {
      ::close(fd);
      return;
    }
    Sum sum;
    uint64_t got = 0;
    while (got < want) {
      ssize_t n = ::recv(fd, buf.data(), std::min<uint64_t>(buf.size(), want - got), 0);
      if (n <= 0) break;
      sum.Add(buf.data(), static_cast<size_t>(n));
      got += static_cast<uint64_t>(n);
    }
    uint64_t out[3];
    sum.Final(out);
    ssize_t ignored = ::send(fd, out, sizeof out, MSG_NOSIGNAL);
    (void)ignored;
  } else if (mode == 'S') {
    Sum sum;
    for (;;) {
      ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      sum.Add(buf.data(), static_cast<size_t>(n));
    }
    uint64_t out[3];
    sum.Final(out);
    ssize_t ignored = ::send(fd, out, sizeof out, MSG_NOSIGNAL);
    (void)ignored;
  }
  ::shutdown(fd, SHUT_WR);
  // Drain until the client closes, so our close sends FIN, never RST.
  while (::recv(fd, buf.data(), buf.size(), 0) > 0) {
  }
  ::close(fd);
}

}  // namespace

Target::Target() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) DieErrno("bind target");
  socklen_t len = sizeof sin;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
  port_ = ntohs(sin.sin_port);
  listen(fd_, 4096);
  int lfd = fd_;
  std::thread([lfd] {
    for (;;) {
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
        return;
      }
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::thread(ServeConn, c).detach();
    }
  }).detach();
}

Target::~Target() { ::shutdown(fd_, SHUT_RDWR); }

Child::Child(const std::vector<std::string>& argv, int keep_fd, bool quiet) {
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // Die with the benchmark, however it ends.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    if (quiet) {
      int dn = open("/dev/null", O_RDWR);
      dup2(dn, 1);
      dup2(dn, 2);
    }
    if (keep_fd >= 0) {
      int fl = fcntl(keep_fd, F_GETFD);
      fcntl(keep_fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

bool Child::alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

Child::~Child() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string FindProgram(const std::string& name) {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string p = dir + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

static long StatusField(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return atol(line.c_str() + key.size());
  }
  return -1;
}

long RssKib(pid_t pid) { return StatusField(pid, "VmRSS:"); }
int Threads(pid_t pid) { return static_cast<int>(StatusField(pid, "Threads:")); }

}  // namespace sockwire::bench
