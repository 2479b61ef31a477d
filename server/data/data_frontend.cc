#include "data/data_frontend.h"

#include "server/obs/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/core.h"
#include "core/errors.h"
#include "core/socket_entry.h"
#include "data/hub.h"

namespace sockwire::server {
namespace {

using core::Clock;

constexpr int kWorkers = 2;
constexpr int kPipeBytes = 256 << 10;
constexpr size_t kMaxTokenLine = 128;
// A relay holds its connection and two pipes (four descriptors) for the
// client: they count against --max-handles like handles do.
constexpr int kRelayDescriptors = 5;
// After an accept error other than EAGAIN (EMFILE, ENFILE, ENOMEM...), the
// listener leaves epoll for this long instead of spinning on a
// level-triggered readiness it cannot consume.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

bool IsAcceptResourceError(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Closes with an RST instead of a FIN, so the other end sees ECONNRESET.
void ResetAndClose(int& fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  CloseFd(fd);
}

class Worker;

// Shared by the listener and the workers: the cap on connections that have
// not presented a token, and the time they have to do it.
struct PendingLimits {
  std::atomic<uint32_t> pending{0};
  uint32_t max_pending = 256;
  std::chrono::milliseconds handshake_timeout{5000};
};

// Anything registered in a worker's epoll.
struct Handler {
  virtual ~Handler() = default;
  virtual void OnEvent(uint32_t events) = 0;
};

// One connection from accept to the end of its relay (or descriptor handoff).
class Conn final {
 public:
  // The connection was counted in limits->pending by the listener; it stops
  // counting once it relays or ends.
  Conn(Worker* w, int fd, bool unix_conn, PendingLimits* limits)
      : w_(w), fd_(fd), unix_conn_(unix_conn), limits_(limits) {
    started_ = Clock::now();
    cside_.c = this;
    sside_.c = this;
    for (auto& p : pipes_) p[0] = p[1] = -1;
  }
  ~Conn();

  void Register();
  void OnEvent();
  // Periodic check: handshake timeout, socket closed through its handle.
  void Tick(Clock::time_point now);
  bool dead() const { return dead_; }

 private:
  struct Side : Handler {
    Conn* c = nullptr;
    void OnEvent(uint32_t) override { c->OnEvent(); }
  };
  struct Dir {
    int src = -1, dst = -1;
    int pipe_r = -1, pipe_w = -1;
    size_t in_pipe = 0;
    bool src_eof = false;
    bool shut = false;
    bool src_is_sock = false;
  };

  void Handshake();
  void Fail(const std::string& why);
  bool StartRelay();
  // Moves bytes until both ends would block. False on a fatal error.
  bool Pump(Dir& d);
  void Abort(bool src_is_sock_error);
  void End();
  void StopCountingPending();

  Worker* w_;
  int fd_;
  bool unix_conn_;
  PendingLimits* limits_;
  bool counted_pending_ = true;
  bool reserved_descriptors_ = false;
  Clock::time_point started_;
  Side cside_, sside_;
  bool relaying_ = false;
  bool dead_ = false;
  bool sock_registered_ = false;
  std::string line_;
  std::shared_ptr<core::SocketEntry> entry_;
  // The session whose lease traffic renews (see Core::TouchSession).
  std::shared_ptr<core::Session> session_;
  Clock::time_point last_touch_{};
  int pipes_[2][2];
  Dir dirs_[2];
};

class Worker {
 public:
  Worker(core::Core& core, PendingLimits* limits) : core_(core), limits_(limits) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  }
  ~Worker() {
    Stop();
    for (Conn* c : conns_) delete c;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [fd, u] : inbox_) {
        ::close(fd);
        limits_->pending.fetch_sub(1);
      }
    }
    ::close(epfd_);
    ::close(wakefd_);
  }
  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    if (stop_.exchange(true)) return;
    uint64_t one = 1;
    ssize_t ignored = write(wakefd_, &one, sizeof one);
    (void)ignored;
    if (thread_.joinable()) thread_.join();
  }
  // Hands a fresh connection to this worker (any thread).
  void Adopt(int fd, bool unix_conn) {
    {
      absl::MutexLock lock(&mu_);
      inbox_.emplace_back(fd, unix_conn);
    }
    uint64_t one = 1;
    ssize_t ignored = write(wakefd_, &one, sizeof one);
    (void)ignored;
  }
  int epfd() const { return epfd_; }
  core::Core& core() { return core_; }
  void set_listener(Handler* h, int fd) {
    listener_ = h;
    listener_fd_ = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = h;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }
  // Worker thread (the listener's): takes the listener out of epoll until
  // `until`, then puts it back.
  void PauseListener(Clock::time_point until) {
    if (listener_paused_) return;
    listener_paused_ = true;
    resume_at_ = until;
    epoll_ctl(epfd_, EPOLL_CTL_DEL, listener_fd_, nullptr);
  }

 private:
  void Run() {
    epoll_event events[128];
    auto next_tick = Clock::now() + std::chrono::seconds(1);
    while (!stop_.load()) {
      int wait_ms = 500;
      if (listener_paused_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(resume_at_ - Clock::now()).count();
        wait_ms = static_cast<int>(std::clamp<int64_t>(left + 1, 0, 500));
      }
      int n = epoll_wait(epfd_, events, 128, wait_ms);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == nullptr) {
          uint64_t v;
          while (read(wakefd_, &v, sizeof v) > 0) {
          }
          continue;
        }
        static_cast<Handler*>(events[i].data.ptr)->OnEvent(events[i].events);
      }
      std::vector<std::pair<int, bool>> fresh;
      {
        absl::MutexLock lock(&mu_);
        fresh.swap(inbox_);
      }
      for (auto [fd, u] : fresh) {
        auto* c = new Conn(this, fd, u, limits_);
        conns_.insert(c);
        c->Register();
      }
      auto now = Clock::now();
      if (listener_paused_ && now >= resume_at_) {
        listener_paused_ = false;
        set_listener(listener_, listener_fd_);
      }
      if (now >= next_tick) {
        next_tick = now + std::chrono::milliseconds(500);
        for (Conn* c : conns_) c->Tick(now);
      }
      Reap();
    }
  }
  void Reap() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if ((*it)->dead()) {
        delete *it;
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  core::Core& core_;
  PendingLimits* limits_;
  int epfd_ = -1, wakefd_ = -1;
  // The listener, on the worker that has it (worker thread only).
  Handler* listener_ = nullptr;
  int listener_fd_ = -1;
  bool listener_paused_ = false;
  Clock::time_point resume_at_{};
  std::thread thread_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<std::pair<int, bool>> inbox_ ABSL_GUARDED_BY(mu_);
  std::unordered_set<Conn*> conns_;  // Worker thread only.
};

Conn::~Conn() {
  StopCountingPending();
  if (reserved_descriptors_) w_->core().ReleaseDescriptors(kRelayDescriptors);
  if (sock_registered_ && entry_) epoll_ctl(w_->epfd(), EPOLL_CTL_DEL, entry_->fd(), nullptr);
  CloseFd(fd_);
  for (auto& p : pipes_) {
    CloseFd(p[0]);
    CloseFd(p[1]);
  }
}

void Conn::StopCountingPending() {
  if (!counted_pending_) return;
  counted_pending_ = false;
  limits_->pending.fetch_sub(1);
}

void Conn::Register() {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &cside_;
  if (epoll_ctl(w_->epfd(), EPOLL_CTL_ADD, fd_, &ev) != 0) {
    dead_ = true;
    return;
  }
  OnEvent();
}

void Conn::OnEvent() {
  if (dead_) return;
  if (!relaying_) return Handshake();
  if (entry_->closed()) {
    Abort(true);
    return;
  }
  for (auto& d : dirs_) {
    if (!Pump(d)) {
      Abort(d.src_is_sock ? true : false);
      return;
    }
  }
  if (dirs_[0].shut && dirs_[1].shut) End();
}

void Conn::Tick(Clock::time_point now) {
  if (dead_) return;
  if (!relaying_ && now - started_ > limits_->handshake_timeout) {
    Fail("timed out waiting for the token");
  } else if (relaying_ && entry_->closed()) {
    Abort(true);
  }
}

void Conn::Fail(const std::string& why) {
  std::string msg = absl::StrCat("ERR ", why, "\n");
  ssize_t ignored = ::send(fd_, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  dead_ = true;  // The destructor closes.
}

void Conn::Handshake() {
  // Read only the token line (peek, then consume up to the newline), so any
  // bytes the client pipelined after it stay in the socket for the relay.
  char buf[kMaxTokenLine + 1];
  ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    dead_ = true;
    return;
  }
  if (n == 0) {
    dead_ = true;
    return;
  }
  const char* nl = static_cast<const char*>(memchr(buf, '\n', static_cast<size_t>(n)));
  if (nl == nullptr) {
    if (static_cast<size_t>(n) > kMaxTokenLine) Fail("token line too long");
    return;  // Wait for the rest (edge-triggered: more data brings an event).
  }
  size_t len = static_cast<size_t>(nl - buf) + 1;
  ssize_t got = ::recv(fd_, buf, len, MSG_DONTWAIT);
  if (got != static_cast<ssize_t>(len)) {
    dead_ = true;
    return;
  }
  std::string token(buf, len - 1);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  auto r = data::Hub::For(w_->core()).Redeem(token);
  if (!r.ok()) return Fail(std::string(r.status().message()));
  entry_ = std::move(r->entry);
  session_ = std::move(r->session);
  if (r->kind == data::TokenKind::kDescriptor) {
    if (!unix_conn_) return Fail("descriptors are only passed over the unix data listener");
    char ok[] = "OK\n";
    iovec iov{ok, 3};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int sfd = entry_->fd();
    memcpy(CMSG_DATA(cm), &sfd, sizeof sfd);
    ssize_t ignored = ::sendmsg(fd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)ignored;
    dead_ = true;
    return;
  }
  if (!StartRelay()) return;
  OnEvent();
}

bool Conn::StartRelay() {
  if (auto st = w_->core().ReserveDescriptors(kRelayDescriptors, "a data channel"); !st.ok()) {
    Fail(absl::StrCat("RESOURCE_EXHAUSTED ", st.message()));
    return false;
  }
  reserved_descriptors_ = true;
  for (auto& p : pipes_) {
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      Fail("out of pipes");
      return false;
    }
    fcntl(p[1], F_SETPIPE_SZ, kPipeBytes);  // Best effort; 64 KiB otherwise.
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &sside_;
  if (epoll_ctl(w_->epfd(), EPOLL_CTL_ADD, entry_->fd(), &ev) != 0) {
    Fail(errno == EEXIST ? "the socket already has a data channel" : "epoll_ctl failed");
    return false;
  }
  sock_registered_ = true;
  // Small writes are echo round trips: do not let Nagle hold them.
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const char ok[] = "OK\n";
  if (::send(fd_, ok, 3, MSG_DONTWAIT | MSG_NOSIGNAL) != 3) {
    dead_ = true;
    return false;
  }
  StopCountingPending();  // Authenticated: counted as the client's descriptors now.
  dirs_[0] = Dir{fd_, entry_->fd(), pipes_[0][0], pipes_[0][1], 0, false, false, false};
  dirs_[1] = Dir{entry_->fd(), fd_, pipes_[1][0], pipes_[1][1], 0, false, false, true};
  relaying_ = true;
  return true;
}

bool Conn::Pump(Dir& d) {
  if (d.shut) return true;
  for (;;) {
    bool progress = false;
    if (!d.src_eof && d.in_pipe < static_cast<size_t>(kPipeBytes)) {
      ssize_t n = splice(d.src, nullptr, d.pipe_w, nullptr, kPipeBytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe += static_cast<size_t>(n);
        progress = true;
      } else if (n == 0) {
        d.src_eof = true;
        progress = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return false;
      }
    }
    if (d.in_pipe > 0) {
      ssize_t n = splice(d.pipe_r, nullptr, d.dst, nullptr, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe -= static_cast<size_t>(n);
        progress = true;
        (d.src_is_sock ? obs::metrics::BytesOut(obs::metrics::Path::kRaw) : obs::metrics::BytesIn(obs::metrics::Path::kRaw))
            .Inc(static_cast<uint64_t>(n));
        if (session_) w_->core().TouchSession(session_, &last_touch_);  // Traffic renews the lease.
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        d.src_is_sock = !d.src_is_sock;  // The failing end is the destination.
        return false;
      }
    }
    if (d.src_eof && d.in_pipe == 0) {
      ::shutdown(d.dst, SHUT_WR);
      d.shut = true;
      return true;
    }
    if (!progress) return true;
  }
}

void Conn::Abort(bool sock_side_failed) {
  // A failure on the socket reaches the client as a reset; a failure of the
  // client's connection shuts the socket down both ways.
  if (sock_side_failed) {
    ResetAndClose(fd_);
  } else if (entry_ && !entry_->closed()) {
    ::shutdown(entry_->fd(), SHUT_RDWR);
  }
  End();
}

void Conn::End() { dead_ = true; }

// Accepts on the first worker's thread. Connections over --data-max-pending
// are told so and closed at once. At EMFILE (and the like) it uses libuv's
// uv__emfile_trick: a spare descriptor is closed to make room, the waiting
// connections are accepted and closed (their clients see the connection end
// instead of hanging in the backlog), and the spare is taken again; if that
// fails too, the listener leaves epoll for kAcceptBackoff. Either way it
// never spins, and it serves again as soon as descriptors are free.
class Listener final : public Handler {
 public:
  Listener(int fd, bool unix_listener, std::vector<std::unique_ptr<Worker>>* workers, PendingLimits* limits)
      : fd_(fd), unix_(unix_listener), workers_(workers), limits_(limits) {
    spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  ~Listener() override {
    ::close(fd_);
    if (spare_ >= 0) ::close(spare_);
  }
  void OnEvent(uint32_t) override {
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        int err = errno;
        if (err == EINTR || err == ECONNABORTED) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        OnAcceptError(err);
        return;
      }
      if (limits_->pending.load() >= limits_->max_pending) {
        static const char kBusy[] =
            "ERR RESOURCE_EXHAUSTED too many data-listener connections waiting for a token (--data-max-pending)\n";
        ssize_t ignored = ::send(c, kBusy, sizeof kBusy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)ignored;
        ::close(c);
        continue;
      }
      limits_->pending.fetch_add(1);
      (*workers_)[next_++ % workers_->size()]->Adopt(c, unix_);
    }
  }
  int fd() const { return fd_; }

 private:
  void OnAcceptError(int err) {
    if (IsAcceptResourceError(err) && spare_ >= 0) {
      ::close(spare_);
      spare_ = -1;
      for (;;) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          break;
        }
        ::close(c);
      }
      spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (spare_ >= 0) return;  // The backlog is drained; epoll tells us of the next one.
    }
    // No spare (someone else took the freed slot) or another error: wait.
    (*workers_)[0]->PauseListener(Clock::now() + kAcceptBackoff);
    if (spare_ < 0) spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  int fd_;
  bool unix_;
  std::vector<std::unique_ptr<Worker>>* workers_;
  PendingLimits* limits_;
  int spare_ = -1;  // For the EMFILE trick.
  size_t next_ = 0;
};

class DataFrontend final : public Frontend {
 public:
  explicit DataFrontend(Daemon& d) : daemon_(d) {}
  ~DataFrontend() override { Shutdown(); }

  absl::StatusOr<std::string> Start() override {
    const std::string& spec = daemon_.options().data_listen;
    int fd = -1;
    std::string address;
    bool is_unix = false;
    if (absl::StartsWith(spec, "unix:")) {
      is_unix = true;
      path_ = spec.substr(5);
      sockaddr_un sun{};
      if (path_.empty() || path_.size() >= sizeof sun.sun_path) {
        return absl::InvalidArgumentError("--data-listen unix: path empty or too long");
      }
      std::string dir = path_.substr(0, path_.rfind('/'));
      if (!dir.empty()) mkdir(dir.c_str(), 0700);
      struct stat st;
      if (lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path_.c_str());
      fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sun.sun_family = AF_UNIX;
      memcpy(sun.sun_path, path_.data(), path_.size());
      mode_t old = umask(0177);
      int rc = bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
      umask(old);
      if (rc != 0) {
        int e = errno;
        ::close(fd);
        return core::OsError(e, absl::StrCat("bind --data-listen ", spec));
      }
      chmod(path_.c_str(), 0600);
      address = spec;
    } else if (absl::StartsWith(spec, "tcp:")) {
      std::string hp = spec.substr(4);
      size_t colon = hp.rfind(':');
      if (colon == std::string::npos) return absl::InvalidArgumentError("--data-listen tcp: needs HOST:PORT");
      std::string host = hp.substr(0, colon);
      if (host == "localhost") host = "127.0.0.1";
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(static_cast<uint16_t>(atoi(hp.c_str() + colon + 1)));
      if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) {
        return absl::InvalidArgumentError("--data-listen tcp: needs a numeric IPv4 host");
      }
      fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
        int e = errno;
        ::close(fd);
        return core::OsError(e, absl::StrCat("bind --data-listen ", spec));
      }
      socklen_t len = sizeof sin;
      getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
      address = absl::StrCat("tcp:", host, ":", ntohs(sin.sin_port));
    } else {
      return absl::InvalidArgumentError("--data-listen must be unix:PATH or tcp:HOST:PORT");
    }
    if (listen(fd, 1024) != 0) {
      int e = errno;
      ::close(fd);
      return core::OsError(e, "listen --data-listen");
    }
    limits_.max_pending = daemon_.options().data_max_pending;
    limits_.handshake_timeout = daemon_.options().data_handshake_timeout;
    for (int i = 0; i < kWorkers; ++i) workers_.push_back(std::make_unique<Worker>(daemon_.core(), &limits_));
    listener_ = std::make_unique<Listener>(fd, is_unix, &workers_, &limits_);
    workers_[0]->set_listener(listener_.get(), fd);
    for (auto& w : workers_) w->Start();
    data::Hub::For(daemon_.core()).set_address(address);
    return address;
  }

  void Shutdown() override {
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : workers_) w->Stop();
    if (!workers_.empty()) data::Hub::For(daemon_.core()).set_address("");
    workers_.clear();
    listener_.reset();
    if (!path_.empty()) unlink(path_.c_str());
  }

 private:
  Daemon& daemon_;
  PendingLimits limits_;  // Outlives the workers and the listener.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Listener> listener_;
  std::string path_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Frontend> MakeDataFrontend(Daemon& daemon) { return std::make_unique<DataFrontend>(daemon); }

}  // namespace sockwire::server
