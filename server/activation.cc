#include "activation.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <grpcpp/security/server_credentials.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "core/errors.h"
#include "core/event_loop.h"
#include "core/sys/syscalls.h"

namespace sockwire::server {
namespace {

// More than any sane unit passes; bounds the fd scan.
constexpr int kMaxListenFds = 64;

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("socket activation: ", what));
}

// Describes fd `fd`, which must be a listening stream socket of a family we serve.
absl::StatusOr<InheritedListener> Inspect(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return core::OsError(errno, absl::StrCat("socket activation: fd ", fd));
  if (!S_ISSOCK(st.st_mode)) return Bad(absl::StrCat("fd ", fd, " is not a socket"));
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    return Bad(absl::StrCat("fd ", fd, " is not a SOCK_STREAM socket"));
  }
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
    return Bad(absl::StrCat("fd ", fd, " is not listening (ListenStream= in the .socket unit)"));
  }
  sockaddr_storage ss{};
  len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return core::OsError(errno, absl::StrCat("socket activation: getsockname fd ", fd));
  }
  InheritedListener l;
  l.fd = fd;
  char host[INET6_ADDRSTRLEN] = {};
  switch (ss.ss_family) {
    case AF_UNIX: {
      const auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
      size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
      std::string path(sun->sun_path, n);
      if (!path.empty() && path[0] != '\0') path = path.c_str();  // Drop the trailing NUL.
      if (path.empty()) return Bad(absl::StrCat("fd ", fd, " is an unnamed unix socket"));
      // An abstract name is written as gRPC and the policy write it.
      l.address = path[0] == '\0' ? absl::StrCat("unix-abstract:", path.substr(1)) : absl::StrCat("unix:", path);
      return l;
    }
    case AF_INET: {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
      l.tcp = true;
      l.loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
      l.address = absl::StrCat("tcp:", host, ":", ntohs(sin->sin_port));
      return l;
    }
    case AF_INET6: {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
      l.tcp = true;
      l.loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
      l.address = absl::StrCat("tcp:[", host, "]:", ntohs(sin6->sin6_port));
      return l;
    }
    default:
      return Bad(absl::StrCat("fd ", fd, " has address family ", ss.ss_family,
                              " (only AF_UNIX, AF_INET, AF_INET6)"));
  }
}

}  // namespace

absl::StatusOr<std::vector<InheritedListener>> ParseListenFds(const char* listen_pid, const char* listen_fds,
                                                              const char* listen_fdnames, pid_t self) {
  std::vector<InheritedListener> out;
  if (listen_pid == nullptr || listen_fds == nullptr) return out;
  int64_t pid = 0;
  if (!absl::SimpleAtoi(listen_pid, &pid) || pid <= 0) return Bad(absl::StrCat("bad LISTEN_PID \"", listen_pid, "\""));
  // Meant for another process (we inherited the environment by accident).
  if (pid != self) return out;
  int n = 0;
  if (!absl::SimpleAtoi(listen_fds, &n) || n < 0 || n > kMaxListenFds) {
    return Bad(absl::StrCat("bad LISTEN_FDS \"", listen_fds, "\" (0..", kMaxListenFds, ")"));
  }
  std::vector<std::string> names;
  if (listen_fdnames != nullptr && *listen_fdnames != '\0') {
    names = absl::StrSplit(listen_fdnames, ':');
    if (static_cast<int>(names.size()) != n) {
      return Bad(absl::StrCat("LISTEN_FDNAMES names ", names.size(), " fds, LISTEN_FDS says ", n));
    }
  }
  for (int i = 0; i < n; ++i) {
    auto l = Inspect(kListenFdsStart + i);
    if (!l.ok()) return l.status();
    if (!names.empty()) l->name = names[i];
    if (l->name == "rest" || l->name == "data") {
      return Bad(absl::StrCat("fd ", l->fd, " is named \"", l->name,
                              "\": only gRPC listeners can be inherited (use --", l->name, "-listen)"));
    }
    out.push_back(*std::move(l));
  }
  return out;
}

absl::StatusOr<std::vector<InheritedListener>> TakeListenFds() {
  auto fds = ParseListenFds(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getenv("LISTEN_FDNAMES"), getpid());
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (!fds.ok()) return fds;
  for (const auto& l : *fds) {
    // Ours now: no child inherits it, and accepts must never block.
    int fdflags = fcntl(l.fd, F_GETFD);
    int flflags = fcntl(l.fd, F_GETFL);
    if (fdflags < 0 || flflags < 0 || fcntl(l.fd, F_SETFD, fdflags | FD_CLOEXEC) != 0 ||
        fcntl(l.fd, F_SETFL, flflags | O_NONBLOCK) != 0) {
      return core::OsError(errno, absl::StrCat("socket activation: fcntl fd ", l.fd));
    }
  }
  return fds;
}

// The listening fd, shared with the event loop's wait on it; closed when the
// last reference goes, which is after the loop has deregistered it (a closed
// fd's number may be reused at once).
struct InheritedAcceptor::State : public core::Pollable {
  ~State() override {
    if (listener.fd >= 0) ::close(listener.fd);
  }
  int pollable_fd() const override { return listener.fd; }

  // Accepts everything queued and hands it to gRPC. Returns true when the wait
  // is over (shut down, or backing off after a transient error).
  bool AcceptAll(const std::shared_ptr<State>& self) {
    for (;;) {
      if (stopped.load(std::memory_order_acquire)) return true;
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      auto c = core::Sys().Accept(listener.fd, &peer, &len);
      if (!c.ok()) {
        // EMFILE/ENFILE/ENOBUFS...: the connection stays queued. Edge-triggered
        // readiness will not fire again for it, so retry on a timer.
        std::fprintf(stderr, "sockwired: accept on %s: %s (retrying in 100ms)\n", listener.address.c_str(),
                     std::string(c.status().message()).c_str());
        loop->PostAt(core::Clock::now() + std::chrono::milliseconds(100), [self] { self->Arm(self); });
        return true;
      }
      if (!c->valid()) return false;  // EAGAIN: wait for the next edge.
      grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
      p.listener_fd = listener.fd;
      p.fd = c->release();  // gRPC owns (and closes) it from here.
      acceptor->HandleNewConnection(&p);
    }
  }

  void Arm(const std::shared_ptr<State>& self) {
    if (stopped.load(std::memory_order_acquire)) return;
    loop->Wait(
        self, EPOLLIN, core::Clock::time_point::max(), nullptr, [self] { return self->AcceptAll(self); },
        [](absl::Status) {}, [] { return absl::OkStatus(); });
  }

  InheritedListener listener;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;
  core::EventLoop* loop = nullptr;
  std::atomic<bool> stopped{false};
};

InheritedAcceptor::InheritedAcceptor(InheritedListener listener, grpc::ServerBuilder& builder)
    : state_(std::make_shared<State>()) {
  state_->listener = std::move(listener);
  state_->acceptor = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, grpc::InsecureServerCredentials());
}

InheritedAcceptor::~InheritedAcceptor() { Shutdown(); }

void InheritedAcceptor::Start(core::EventLoop& loop) {
  state_->loop = &loop;
  state_->Arm(state_);
}

void InheritedAcceptor::Shutdown() {
  if (state_->stopped.exchange(true)) return;
  // Ends the wait (on the loop thread); the fd closes with the last reference.
  if (state_->loop != nullptr) state_->loop->Abort(state_.get(), absl::UnavailableError("shutting down"));
}

const InheritedListener& InheritedAcceptor::listener() const { return state_->listener; }

}  // namespace sockwire::server
