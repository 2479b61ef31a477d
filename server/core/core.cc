// Socket operations. The pattern for anything that can wait: try the
// non-blocking syscall on the caller's thread; if it would block, apply the
// socket's Python timeout mode (EAGAIN at once for timeout 0, otherwise an
// event-loop wait bounded by min(socket timeout, caller deadline)).
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "address.h"
#include "errors.h"
#include "fd_limits.h"
#include "random_token.h"
#include "server/obs/log.h"
#include "server/obs/metrics.h"
#include "registry.h"
#include "socket_entry.h"
#include "sockopt_rules.h"
#include "sys/syscalls.h"

namespace sockwire::core {
namespace {

constexpr int kDefaultBacklog = std::min(SOMAXCONN, 128);
constexpr uint32_t kMaxOptionBytes = 1024;
constexpr int64_t kMaxAncillaryBytes = 64 * 1024;

std::string NewEpoch() { return RandomHex(8); }

// How long a wait may last: the socket's timeout, capped by the caller's.
Clock::time_point WaitDeadline(const Timeout& t, Clock::time_point caller) {
  if (!t.has_value()) return caller;
  auto now = Clock::now();
  auto mine = (*t > std::chrono::hours(24 * 365 * 100)) ? Clock::time_point::max() : now + *t;
  return std::min(mine, caller);
}

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

SocketInfo InfoOf(const SocketEntry& e) {
  SocketInfo info;
  info.handle = e.handle();
  info.family = e.family();
  info.type = e.type();
  info.proto = e.proto();
  info.timeout = e.timeout();
  info.listening = e.listening();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(e.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    info.local = FromSockAddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  len = sizeof ss;
  if (getpeername(e.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    info.peer = FromSockAddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  return info;
}

// MSG_WAITALL holds at most this much in the kernel before taking it: a TCP
// receive window is at least this large, so the sender is never stalled
// waiting for a read that waits for it.
constexpr size_t kWaitallHold = 32 * 1024;

// Whether a held MSG_WAITALL may take bytes now: `want` are queued, or
// kWaitallHold are, or the peer has shut down or failed (no more will come).
bool WaitallCanTake(int fd, size_t want) {
  int avail = 0;
  if (ioctl(fd, FIONREAD, &avail) != 0) return true;  // Let recv report it.
  if (avail <= 0) return true;  // recv sees EAGAIN, EOF or the error itself.
  if (static_cast<size_t>(avail) >= std::min(want, kWaitallHold)) return true;
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

absl::Status ClosedError() { return OsError(EBADF, "socket was closed while the call waited"); }

absl::Status CheckSize(int64_t n, uint64_t max, std::string_view what) {
  if (n < 0) {
    return RequestError(absl::StatusCode::kInvalidArgument, "NEGATIVE_SIZE",
                        absl::StrCat("negative ", AV(what), " (", n, ")"));
  }
  if (static_cast<uint64_t>(n) > max) {
    return RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE",
                        absl::StrCat(AV(what), " ", n, " exceeds the daemon's limit of ", max,
                                     " bytes (--max-message-bytes)"));
  }
  return absl::OkStatus();
}

// (level, optname) for the proto's OptionName numbers.
bool TypedOption(int typed, int* level, int* optname) {
  struct Row { int level, name; };
  static const Row rows[] = {
      {0, 0},
      {SOL_SOCKET, SO_REUSEADDR},   {SOL_SOCKET, SO_REUSEPORT},  {SOL_SOCKET, SO_KEEPALIVE},
      {SOL_SOCKET, SO_RCVBUF},      {SOL_SOCKET, SO_SNDBUF},     {SOL_SOCKET, SO_LINGER},
      {SOL_SOCKET, SO_BROADCAST},   {SOL_SOCKET, SO_ERROR},      {SOL_SOCKET, SO_TYPE},
      {IPPROTO_TCP, TCP_NODELAY},   {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL},
      {IPPROTO_TCP, TCP_KEEPCNT},   {IPPROTO_IP, IP_TTL},        {IPPROTO_IPV6, IPV6_V6ONLY},
      {IPPROTO_IP, IP_ADD_MEMBERSHIP}, {IPPROTO_IP, IP_DROP_MEMBERSHIP},
      {IPPROTO_IPV6, IPV6_JOIN_GROUP}, {IPPROTO_IPV6, IPV6_LEAVE_GROUP},
      {IPPROTO_IP, IP_MULTICAST_TTL},  {IPPROTO_IP, IP_MULTICAST_LOOP},
      {SOL_SOCKET, SO_ACCEPTCONN},  {IPPROTO_IP, IP_PKTINFO},    {SOL_SOCKET, SO_PASSCRED},
  };
  if (typed <= 0 || typed >= static_cast<int>(sizeof rows / sizeof rows[0])) return false;
  *level = rows[typed].level;
  *optname = rows[typed].name;
  return true;
}

int BaseType(int type) { return type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC); }

// SCM_CREDENTIALS must state the truth. The daemon is root, so the kernel
// would deliver any uid/pid it claims; the only identity it can vouch for is
// its own (what the kernel attaches by itself when the peer has SO_PASSCRED).
absl::Status CheckCredentials(const Ancillary& a) {
  ucred cred{};
  if (a.data.size() != sizeof cred) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ANCILLARY",
                        absl::StrCat("SCM_CREDENTIALS carries a struct ucred (", sizeof cred, " bytes)"));
  }
  std::memcpy(&cred, a.data.data(), sizeof cred);
  if (cred.pid != getpid() || cred.uid != geteuid() || cred.gid != getegid()) {
    return PolicyError(absl::StatusCode::kPermissionDenied, "CREDENTIALS_DENIED",
                       absl::StrCat("SCM_CREDENTIALS may only carry the sending socket's real credentials (pid ",
                                    getpid(), ", uid ", geteuid(), ", gid ", getegid(), ")"));
  }
  return absl::OkStatus();
}

// Packs ancillary data for sendmsg. SCM_RIGHTS is refused: the numbers would
// name the daemon's own descriptors. Other control messages pass the
// policy's allow-list (sockopt_rules.h).
absl::StatusOr<std::string> PackControl(const Policy& policy, const std::vector<Ancillary>& anc) {
  size_t total = 0;
  for (const auto& a : anc) {
    if (a.level == SOL_SOCKET && a.type == SCM_RIGHTS) {
      return PolicyError(absl::StatusCode::kPermissionDenied, "SCM_RIGHTS_DENIED",
                         "SCM_RIGHTS would pass the daemon's own descriptors; it is not allowed");
    }
    if (a.level == SOL_SOCKET && a.type == SCM_CREDENTIALS) {
      if (auto st = CheckCredentials(a); !st.ok()) return st;
    } else if (auto st = policy.CheckOption(ClassifyControlMessage(a.level, a.type), "control message");
               !st.ok()) {
      return st;
    }
    total += CMSG_SPACE(a.data.size());
  }
  if (total > static_cast<size_t>(kMaxAncillaryBytes)) {
    return RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE", "ancillary data too large");
  }
  std::string buf(total, '\0');
  if (total == 0) return buf;
  msghdr m{};
  m.msg_control = buf.data();
  m.msg_controllen = buf.size();
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  for (const auto& a : anc) {
    c->cmsg_level = a.level;
    c->cmsg_type = a.type;
    c->cmsg_len = CMSG_LEN(a.data.size());
    memcpy(CMSG_DATA(c), a.data.data(), a.data.size());
    c = CMSG_NXTHDR(&m, c);
  }
  return buf;
}

std::vector<Ancillary> UnpackControl(msghdr* m) {
  std::vector<Ancillary> out;
  for (cmsghdr* c = CMSG_FIRSTHDR(m); c != nullptr; c = CMSG_NXTHDR(m, c)) {
    Ancillary a;
    a.level = c->cmsg_level;
    a.type = c->cmsg_type;
    size_t n = c->cmsg_len - CMSG_LEN(0);
    if (a.level == SOL_SOCKET && a.type == SCM_RIGHTS) {
      // Descriptors a peer passed in must not pile up in the daemon; close
      // them and report the message with no data.
      int count = static_cast<int>(n / sizeof(int));
      for (int i = 0; i < count; ++i) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        close(fd);
      }
    } else {
      a.data.assign(reinterpret_cast<const char*>(CMSG_DATA(c)), n);
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction, sessions

Core::Core(const server::Options& options)
    : options_(options),
      loop_(std::make_unique<EventLoop>()),
      resolver_(MakeThreadPoolResolver(options.resolver_threads)),
      registry_(std::make_unique<Registry>(options, NewEpoch())) {
  // The reaper: ends expired sessions at a fraction of the grace period.
  auto tick = std::clamp(std::min(options_.session_grace, options_.session_lease) / 4,
                         std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::function<void()>* reap = new std::function<void()>;
  *reap = [this, tick, reap] {
    size_t before = registry_->session_count();
    for (auto& e : registry_->Reap(Clock::now())) loop_->Abort(e.get(), ClosedError());
    if (size_t after = registry_->session_count(); after < before) {
      obs::metrics::SessionsClosed("expired").Inc(before - after);
      obs::Log(obs::Level::kInfo, "sessions_expired", {{"count", std::to_string(before - after)}});
    }
    loop_->PostAt(Clock::now() + tick, *reap);
  };
  reaper_ = reap;
  loop_->PostAt(Clock::now() + tick, *reap);
}

Core::~Core() {
  for (auto& e : registry_->TakeAll()) loop_->Abort(e.get(), absl::UnavailableError("daemon is shutting down"));
  loop_.reset();
  resolver_.reset();
  delete static_cast<std::function<void()>*>(reaper_);
}

const std::string& Core::epoch() const { return registry_->epoch(); }

absl::StatusOr<std::shared_ptr<Session>> Core::OpenSession(std::string_view principal, bool implicit) {
  auto s = registry_->OpenSession(implicit);
  if (s.ok()) {
    (*s)->principal_ = std::string(principal);
    obs::metrics::SessionsOpened().Inc();
    obs::LogLimited(obs::Level::kInfo, "session_open",
                    {{"session", (*s)->id()}, {"principal", (*s)->principal()},
                     {"implicit", implicit ? "true" : "false"}});
  }
  return s;
}
size_t Core::SessionHandleCount(const std::shared_ptr<Session>& s) const { return registry_->SessionHandleCount(s); }
absl::Status Core::ReserveDescriptors(int n, std::string_view what) { return registry_->ReserveDescriptors(n, what); }
void Core::ReleaseDescriptors(int n) { registry_->ReleaseDescriptors(n); }

absl::StatusOr<std::shared_ptr<Session>> Core::FindSession(std::string_view token, std::string_view principal) {
  auto s = registry_->FindSession(token);
  if (!s.ok()) return s;
  const std::string& owner = (*s)->principal();
  if ((IsNamedPrincipal(owner) || IsNamedPrincipal(principal)) && owner != principal) {
    // The same answer as an unknown token: a stolen token tells the thief nothing.
    return absl::UnauthenticatedError(
        "unknown or expired session: open one with SessionService.Open and send it as "
        "\"sockwire-session\" metadata");
  }
  return s;
}
void Core::HoldSession(const std::shared_ptr<Session>& s) { registry_->Hold(s); }
void Core::ReleaseSession(const std::shared_ptr<Session>& s) { registry_->Release(s); }
void Core::TouchSession(const std::shared_ptr<Session>& s, Clock::time_point* last) {
  auto now = Clock::now();
  if (now - *last < kTouchEvery) return;
  *last = now;
  registry_->Touch(s);
}
int Core::CloseSession(const std::shared_ptr<Session>& s) {
  auto closed = registry_->CloseSession(s);
  for (auto& e : closed) loop_->Abort(e.get(), ClosedError());
  obs::metrics::SessionsClosed("closed").Inc();
  obs::LogLimited(obs::Level::kInfo, "session_close",
                  {{"session", s->id()}, {"sockets_closed", std::to_string(closed.size())}});
  return static_cast<int>(closed.size());
}
size_t Core::session_count() const { return registry_->session_count(); }
size_t Core::handle_count() const { return registry_->handle_count(); }

absl::StatusOr<std::shared_ptr<SocketEntry>> Core::Lookup(const CallContext& c, std::string_view handle) {
  return registry_->Find(c.session, handle);
}

SocketInfo Core::Describe(const SocketEntry& e) {
  SocketInfo info = InfoOf(e);
  registry_->ReadFlags(e, &info.detached, &info.inheritable);
  return info;
}

absl::StatusOr<SocketInfo> Core::Publish(const CallContext& c, std::shared_ptr<SocketEntry> e) {
  if (auto st = registry_->Add(c.session, e); !st.ok()) return st;
  return Describe(*e);
}

// ---------------------------------------------------------------------------
// The wait machinery

template <class T>
void Core::RunWaitable(const CallContext& c, const std::shared_ptr<SocketEntry>& s, uint32_t events,
                       bool nonblocking, int would_block_errno, std::string_view what,
                       std::function<std::optional<absl::StatusOr<T>>()> attempt, Done<T> done) {
  if (auto r = attempt(); r.has_value()) {
    done(std::move(*r));
    return;
  }
  Timeout t = s->timeout();
  if (nonblocking || (t.has_value() && t->count() == 0)) {
    done(OsError(would_block_errno, what));
    return;
  }
  std::string name(what);
  auto shared_done = std::make_shared<Done<T>>(std::move(done));
  Clock::time_point deadline = WaitDeadline(t, c.deadline);
  auto cancel = c.cancel;
  loop_->Wait(
      s, events, deadline, c.cancel,
      [attempt, shared_done, s, deadline, cancel, name]() -> bool {
        if (s->closed()) {
          (*shared_done)(ClosedError());
          return true;
        }
        // A readiness edge handled after the deadline or the cancellation
        // (the loop was busy) must not take bytes out of the kernel for a
        // caller that is no longer there: they stay in the socket.
        if (cancel && cancel->cancelled()) {
          (*shared_done)(absl::CancelledError("cancelled by the caller"));
          return true;
        }
        if (Clock::now() >= deadline) {
          (*shared_done)(TimeoutError(name));
          return true;
        }
        auto r = attempt();
        if (!r.has_value()) return false;
        (*shared_done)(std::move(*r));
        return true;
      },
      [shared_done](absl::Status st) { (*shared_done)(std::move(st)); },
      [name] { return TimeoutError(name); });
}

void Core::ResolveFor(const CallContext& c, const std::shared_ptr<SocketEntry>& s, Address a,
                      Done<SockAddr> done) {
  SockAddr sa;
  auto parsed = ToSockAddr(a, s->family(), &sa);
  if (!parsed.ok()) return done(parsed.status());
  if (*parsed == ParseResult::kOk) return done(sa);
  // A host name: resolve it in the daemon's own network, as Python's
  // connect(("name", port)) does, without blocking this thread.
  AddrInfoQuery q;
  q.host = a.host;
  q.service = absl::StrCat(a.port);
  q.family = s->family();
  q.socktype = s->type();
  q.flags = AI_NUMERICSERV;
  Timeout t = s->timeout();
  auto deadline = t.has_value() && t->count() > 0 ? WaitDeadline(t, c.deadline) : c.deadline;
  resolver_->GetAddrInfo(std::move(q), deadline, c.cancel,
                         [done](absl::StatusOr<std::vector<AddrInfo>> r) {
                           if (!r.ok()) return done(r.status());
                           if (r->empty()) return done(GaiError(EAI_NONAME, "getaddrinfo"));
                           done(r->front().addr);
                         });
}

// ---------------------------------------------------------------------------
// Creation and lifetime

absl::StatusOr<SocketInfo> Core::Create(const CallContext& c, int family, int type, int proto,
                                        bool nonblock, bool /*cloexec*/) {
  if (auto st = policy_.CheckSocket(family, type, proto); !st.ok()) return st;
  if (auto st = registry_->CheckQuota(c.session, 1); !st.ok()) return st;
  auto fd = Sys().Socket(family, type, proto);
  if (!fd.ok()) return fd.status();
  auto e = std::make_shared<SocketEntry>(std::move(*fd), family, type, proto);
  // SOCK_NONBLOCK puts the socket in timeout 0, as Python does.
  if (nonblock) e->set_timeout(std::chrono::nanoseconds(0));
  return Publish(c, std::move(e));
}

absl::StatusOr<std::pair<SocketInfo, SocketInfo>> Core::CreatePair(const CallContext& c, int family,
                                                                   int type, int proto) {
  if (family == 0) family = AF_UNIX;
  if (type == 0) type = SOCK_STREAM;
  if (auto st = policy_.CheckSocket(family, type, proto); !st.ok()) return st;
  if (auto st = registry_->CheckQuota(c.session, 2); !st.ok()) return st;
  auto fds = Sys().SocketPair(family, type, proto);
  if (!fds.ok()) return fds.status();
  auto a = std::make_shared<SocketEntry>(std::move((*fds)[0]), family, type, proto);
  auto b = std::make_shared<SocketEntry>(std::move((*fds)[1]), family, type, proto);
  auto ia = Publish(c, a);
  if (!ia.ok()) return ia.status();
  auto ib = Publish(c, b);
  if (!ib.ok()) {
    (void)Close(c, ia->handle);
    return ib.status();
  }
  return std::make_pair(*std::move(ia), *std::move(ib));
}

void Core::CreateConnection(const CallContext& c, Address address, Timeout timeout,
                            std::optional<Address> source, Done<SocketInfo> done) {
  if (auto st = registry_->CheckQuota(c.session, 1); !st.ok()) return done(st);
  int family = address.family;
  if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
    return done(RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", "address is missing"));
  }
  // Resolve with family 0 for inet names so both IPv4 and IPv6 answers are
  // tried in order, as Python's create_connection does.
  SockAddr probe;
  auto parsed = ToSockAddr(address, family, &probe);
  if (!parsed.ok()) return done(parsed.status());
  auto deadline = timeout.has_value() && timeout->count() > 0 ? WaitDeadline(timeout, c.deadline) : c.deadline;

  auto try_all = [this, c, timeout, source, done](std::vector<AddrInfo> candidates) {
    struct State {
      std::vector<AddrInfo> candidates;
      size_t next = 0;
      absl::Status last = OsError(ECONNREFUSED, "connect");
    };
    auto st = std::make_shared<State>();
    st->candidates = std::move(candidates);
    auto step = std::make_shared<std::function<void()>>();
    *step = [this, c, timeout, source, done, st, step]() {
      if (st->next >= st->candidates.size()) {
        done(st->last);
        *step = nullptr;  // Break the self-reference.
        return;
      }
      const AddrInfo& ai = st->candidates[st->next++];
      int type = ai.socktype != 0 ? ai.socktype : SOCK_STREAM;
      auto fd = Sys().Socket(ai.family, type, ai.protocol);
      if (!fd.ok()) {
        st->last = fd.status();
        return (*step)();
      }
      auto e = std::make_shared<SocketEntry>(std::move(*fd), ai.family, type, ai.protocol);
      e->set_timeout(timeout);
      if (source.has_value()) {
        SockAddr src;
        auto p = ToSockAddr(*source, ai.family, &src);
        if (!p.ok() || *p != ParseResult::kOk) {
          done(p.ok() ? RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS",
                                     "source_address must be numeric")
                      : p.status());
          *step = nullptr;
          return;
        }
        // source_address is a bind like any other: same policy check.
        if (auto admitted = Admit(c, e->fd(), PolicyOp::kBind, &src); !admitted.ok()) {
          done(admitted);
          *step = nullptr;
          return;
        }
        if (::bind(e->fd(), src.get(), src.len) != 0) {
          st->last = OsError(errno, "bind");
          return (*step)();
        }
      }
      ConnectEntry(c, e, ai.addr, false, [this, c, e, done, st, step](absl::Status s) {
        if (!s.ok()) {
          st->last = s;
          if (s.code() == absl::StatusCode::kCancelled) {
            done(s);
            *step = nullptr;
            return;
          }
          return (*step)();
        }
        done(Publish(c, e));
        *step = nullptr;
      });
    };
    (*step)();
  };

  if (*parsed == ParseResult::kOk) {
    AddrInfo ai;
    ai.family = family;
    ai.socktype = SOCK_STREAM;
    ai.addr = probe;
    return try_all({ai});
  }
  AddrInfoQuery q;
  q.host = address.host;
  q.service = absl::StrCat(address.port);
  q.family = 0;
  q.socktype = SOCK_STREAM;
  q.flags = AI_NUMERICSERV;
  resolver_->GetAddrInfo(std::move(q), deadline, c.cancel,
                         [done, try_all](absl::StatusOr<std::vector<AddrInfo>> r) {
                           if (!r.ok()) return done(r.status());
                           try_all(*std::move(r));
                         });
}

absl::Status Core::Close(const CallContext& c, std::string_view handle) {
  auto e = registry_->Remove(c.session, handle);
  if (!e.ok()) return e.status();
  loop_->Abort(e->get(), ClosedError());
  return absl::OkStatus();
}

absl::StatusOr<SocketInfo> Core::Dup(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  if (auto st = registry_->CheckQuota(c.session, 1); !st.ok()) return st;
  auto fd = Sys().Dup((*e)->fd());
  if (!fd.ok()) return fd.status();
  auto d = std::make_shared<SocketEntry>(std::move(*fd), (*e)->family(), (*e)->type(), (*e)->proto());
  d->set_timeout((*e)->timeout());
  return Publish(c, std::move(d));
}

absl::StatusOr<std::string> Core::Detach(const CallContext& c, std::string_view handle) {
  if (auto st = registry_->SetDetached(c.session, handle); !st.ok()) return st;
  return std::string(handle);
}

absl::StatusOr<SocketInfo> Core::Attach(const CallContext& c, std::string_view handle) {
  auto e = registry_->Attach(c.session, handle);
  if (!e.ok()) return e.status();
  return Describe(**e);
}

absl::StatusOr<std::string> Core::Share(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  return registry_->AddShare(*e);
}

absl::StatusOr<SocketInfo> Core::FromShare(const CallContext& c, std::string_view token) {
  auto src = registry_->TakeShare(token);
  if (!src.ok()) return src.status();
  if (auto st = registry_->CheckQuota(c.session, 1); !st.ok()) return st;
  auto fd = Sys().Dup((*src)->fd());
  if (!fd.ok()) return fd.status();
  auto d = std::make_shared<SocketEntry>(std::move(*fd), (*src)->family(), (*src)->type(), (*src)->proto());
  d->set_timeout((*src)->timeout());
  return Publish(c, std::move(d));
}

absl::StatusOr<SocketInfo> Core::GetInfo(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  return Describe(**e);
}

std::vector<SocketInfo> Core::List(const CallContext& c) {
  std::vector<SocketInfo> out;
  for (auto& e : registry_->List(c.session)) out.push_back(Describe(*e));
  std::sort(out.begin(), out.end(), [](const SocketInfo& a, const SocketInfo& b) { return a.handle < b.handle; });
  return out;
}

// ---------------------------------------------------------------------------
// Addressing

void Core::Bind(const CallContext& c, std::string_view handle, Address a, DoneStatus done) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  auto s = *e;
  ResolveFor(c, s, std::move(a), [this, c, s, done](absl::StatusOr<SockAddr> sa) {
    if (!sa.ok()) return done(sa.status());
    if (auto st = Admit(c, s->fd(), PolicyOp::kBind, &*sa); !st.ok()) return done(st);
    if (::bind(s->fd(), sa->get(), sa->len) != 0) return done(OsError(errno, "bind"));
    done(absl::OkStatus());
  });
}

absl::Status Core::Listen(const CallContext& c, std::string_view handle, std::optional<int> backlog) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  int b = backlog.value_or(kDefaultBacklog);
  if (b < 0) b = 0;  // Python clamps negative backlogs to 0.
  // listen() on an unbound inet socket binds the wildcard: check what the
  // socket is (or will be) bound to.
  if ((*e)->family() == AF_INET || (*e)->family() == AF_INET6) {
    SockAddr local;
    local.len = sizeof local.storage;
    if (getsockname((*e)->fd(), local.get(), &local.len) != 0) return OsError(errno, "listen");
    if (auto st = Admit(c, (*e)->fd(), PolicyOp::kListen, &local); !st.ok()) return st;
  }
  if (::listen((*e)->fd(), b) != 0) return OsError(errno, "listen");
  (*e)->set_listening();
  return absl::OkStatus();
}

void Core::Accept(const CallContext& c, std::string_view handle, Done<AcceptResult> done) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  if (auto st = registry_->CheckQuota(c.session, 1); !st.ok()) return done(st);
  auto s = *e;
  auto session = c.session;
  CallContext cc = c;
  RunWaitable<AcceptResult>(
      c, s, EPOLLIN, false, EAGAIN, "accept",
      [this, s, cc]() -> std::optional<absl::StatusOr<AcceptResult>> {
        // Checked before accept4: a connection we could not publish would be
        // taken from the queue and lost.
        if (auto st = registry_->CheckQuota(cc.session, 1); !st.ok()) return absl::StatusOr<AcceptResult>(st);
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        auto fd = Sys().Accept(s->fd(), &peer, &len);
        if (!fd.ok()) return absl::StatusOr<AcceptResult>(fd.status());
        if (!fd->valid()) return std::nullopt;
        auto n = std::make_shared<SocketEntry>(std::move(*fd), s->family(), s->type(), s->proto());
        auto info = Publish(cc, n);
        if (!info.ok()) return absl::StatusOr<AcceptResult>(info.status());
        AcceptResult r;
        r.socket = *std::move(info);
        r.peer = FromSockAddr(reinterpret_cast<sockaddr*>(&peer), len);
        return absl::StatusOr<AcceptResult>(std::move(r));
      },
      std::move(done));
}

absl::Status Core::Admit(const CallContext& c, int fd, PolicyOp op, SockAddr* sa) {
  auto d = Normalise(op, fd, sa);
  if (!d.ok()) return d.status();
  if (own_.Reaches(*d)) {
    return PolicyError(absl::StatusCode::kPermissionDenied, "OWN_SOCKET",
                       absl::StrCat(PolicyOpName(op), " would reach one of the daemon's own listeners"));
  }
  static const std::string kNobody;
  return policy_.CheckDestination(op, *d, c.session != nullptr ? c.session->principal() : kNobody);
}

absl::Status Core::AdmitSendTo(const CallContext& c, const SocketEntry& s, SockAddr* sa) {
  if (auto st = Admit(c, s.fd(), PolicyOp::kSendTo, sa); !st.ok()) return st;
  if (BaseType(s.type()) == SOCK_STREAM && (s.family() == AF_INET || s.family() == AF_INET6)) {
    return Admit(c, s.fd(), PolicyOp::kConnect, sa);
  }
  return absl::OkStatus();
}

void Core::ConnectEntry(const CallContext& c, const std::shared_ptr<SocketEntry>& s, SockAddr sa,
                        bool /*unused*/, DoneStatus done) {
  if (auto st = Admit(c, s->fd(), PolicyOp::kConnect, &sa); !st.ok()) return done(st);
  int rc = ::connect(s->fd(), sa.get(), sa.len);
  if (rc == 0) return done(absl::OkStatus());
  int err = errno;
  if (err != EINPROGRESS && err != EAGAIN && err != EINTR) return done(OsError(err, "connect"));
  // Non-blocking mode: Python's connect raises BlockingIOError(EINPROGRESS)
  // even when the handshake would finish a moment later.
  Timeout t = s->timeout();
  if (t.has_value() && t->count() == 0) return done(OsError(err == EAGAIN ? EAGAIN : EINPROGRESS, "connect"));
  bool retry_connect = (err == EAGAIN);  // AF_UNIX with a full backlog.
  struct Connected {};
  RunWaitable<Connected>(
      c, s, EPOLLOUT, false, retry_connect ? EAGAIN : EINPROGRESS, "connect",
      [s, sa, retry_connect]() -> std::optional<absl::StatusOr<Connected>> {
        if (retry_connect) {
          if (::connect(s->fd(), sa.get(), sa.len) == 0) return Connected{};
          int e = errno;
          if (e == EAGAIN) return std::nullopt;
          if (e == EISCONN) return Connected{};
          return absl::StatusOr<Connected>(OsError(e, "connect"));
        }
        pollfd p{s->fd(), POLLOUT, 0};
        if (::poll(&p, 1, 0) <= 0) return std::nullopt;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(s->fd(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
          return absl::StatusOr<Connected>(OsError(errno, "connect"));
        }
        if (soerr != 0) return absl::StatusOr<Connected>(OsError(soerr, "connect"));
        return Connected{};
      },
      [done](absl::StatusOr<Connected> r) { done(r.status()); });
}

void Core::Connect(const CallContext& c, std::string_view handle, Address a, DoneStatus done) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  auto s = *e;
  ResolveFor(c, s, std::move(a), [this, c, s, done](absl::StatusOr<SockAddr> sa) {
    if (!sa.ok()) return done(sa.status());
    ConnectEntry(c, s, *sa, false, done);
  });
}

absl::Status Core::Shutdown(const CallContext& c, std::string_view handle, int how) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_HOW", "how must be SHUT_RD, SHUT_WR or SHUT_RDWR");
  }
  if (::shutdown((*e)->fd(), how) != 0) return OsError(errno, "shutdown");
  return absl::OkStatus();
}

absl::StatusOr<Address> Core::GetSockName(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname((*e)->fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return OsError(errno, "getsockname");
  Address a = FromSockAddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (a.family == 0) a.family = (*e)->family();
  return a;
}

absl::StatusOr<Address> Core::GetPeerName(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername((*e)->fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return OsError(errno, "getpeername");
  Address a = FromSockAddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (a.family == 0) a.family = (*e)->family();
  return a;
}

// ---------------------------------------------------------------------------
// Options and modes

absl::Status Core::SetSockOpt(const CallContext& c, std::string_view handle, int typed, int level,
                              int optname, const OptionValue& v, uint32_t optlen) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  if (typed < 0) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_OPTION", "an option name or a raw (level, optname) is required");
  }
  if (typed != 0 && !TypedOption(typed, &level, &optname)) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_OPTION", absl::StrCat("unknown option name ", typed));
  }
  if (typed == 0) {
    // The raw form reaches any kernel option: only the allow-list passes.
    std::optional<int64_t> iv;
    if (v.kind == OptionValue::Kind::kInt) iv = v.int_value;
    if (v.kind == OptionValue::Kind::kBytes && v.bytes_value.size() == sizeof(int)) {
      int x;
      std::memcpy(&x, v.bytes_value.data(), sizeof x);
      iv = x;
    }
    if (auto st = policy_.CheckOption(ClassifySetOption(level, optname, iv), "setsockopt"); !st.ok()) return st;
  }
  int fd = (*e)->fd();
  int rc;
  switch (v.kind) {
    case OptionValue::Kind::kInt: {
      if (v.int_value < INT32_MIN || v.int_value > INT32_MAX) {
        return RequestError(absl::StatusCode::kInvalidArgument, "BAD_OPTION", "option value out of int range");
      }
      int iv = static_cast<int>(v.int_value);
      rc = setsockopt(fd, level, optname, &iv, sizeof iv);
      break;
    }
    case OptionValue::Kind::kBytes:
      if (v.bytes_value.size() > kMaxOptionBytes) {
        return RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE", "option value over 1024 bytes");
      }
      rc = setsockopt(fd, level, optname, v.bytes_value.data(), v.bytes_value.size());
      break;
    case OptionValue::Kind::kLinger: {
      linger l{v.linger_on ? 1 : 0, v.linger_seconds};
      rc = setsockopt(fd, level, optname, &l, sizeof l);
      break;
    }
    case OptionValue::Kind::kMembership: {
      if (level == IPPROTO_IP) {
        ip_mreqn m{};
        if (inet_pton(AF_INET, v.group.c_str(), &m.imr_multiaddr) != 1) {
          return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", "malformed multicast group");
        }
        if (!v.interface_address.empty() &&
            inet_pton(AF_INET, v.interface_address.c_str(), &m.imr_address) != 1) {
          return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", "malformed interface address");
        }
        m.imr_ifindex = static_cast<int>(v.interface_index);
        rc = setsockopt(fd, level, optname, &m, sizeof m);
      } else {
        ipv6_mreq m{};
        if (inet_pton(AF_INET6, v.group.c_str(), &m.ipv6mr_multiaddr) != 1) {
          return RequestError(absl::StatusCode::kInvalidArgument, "BAD_ADDRESS", "malformed multicast group");
        }
        m.ipv6mr_interface = v.interface_index;
        rc = setsockopt(fd, level, optname, &m, sizeof m);
      }
      break;
    }
    case OptionValue::Kind::kNone:
    default:
      // setsockopt(level, optname, None, optlen).
      if (optlen > kMaxOptionBytes) {
        return RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE", "optlen over 1024 bytes");
      }
      rc = setsockopt(fd, level, optname, nullptr, optlen);
      break;
  }
  if (rc != 0) return OsError(errno, "setsockopt");
  return absl::OkStatus();
}

absl::StatusOr<OptionValue> Core::GetSockOpt(const CallContext& c, std::string_view handle, int typed,
                                             int level, int optname, uint32_t buflen) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  if (typed < 0) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_OPTION", "an option name or a raw (level, optname) is required");
  }
  if (typed != 0 && !TypedOption(typed, &level, &optname)) {
    return RequestError(absl::StatusCode::kInvalidArgument, "BAD_OPTION", absl::StrCat("unknown option name ", typed));
  }
  if (buflen > kMaxOptionBytes) {
    return RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE",
                        absl::StrCat("buflen ", buflen, " over 1024 bytes"));
  }
  // Reading can leak what only root may see (IPT_SO_GET_ENTRIES dumps the
  // firewall): the same allow-list, plus read-only socket state.
  if (typed == 0) {
    if (auto st = policy_.CheckOption(ClassifyGetOption(level, optname), "getsockopt"); !st.ok()) return st;
  }
  OptionValue out;
  int fd = (*e)->fd();
  if (typed != 0 && level == SOL_SOCKET && optname == SO_LINGER) {
    linger l{};
    socklen_t len = sizeof l;
    if (getsockopt(fd, level, optname, &l, &len) != 0) return OsError(errno, "getsockopt");
    out.kind = OptionValue::Kind::kLinger;
    out.linger_on = l.l_onoff != 0;
    out.linger_seconds = l.l_linger;
    return out;
  }
  if (buflen == 0) {
    int iv = 0;
    socklen_t len = sizeof iv;
    if (getsockopt(fd, level, optname, &iv, &len) != 0) return OsError(errno, "getsockopt");
    out.kind = OptionValue::Kind::kInt;
    out.int_value = iv;
    return out;
  }
  std::string buf(buflen, '\0');
  socklen_t len = buflen;
  if (getsockopt(fd, level, optname, buf.data(), &len) != 0) return OsError(errno, "getsockopt");
  buf.resize(len);
  out.kind = OptionValue::Kind::kBytes;
  out.bytes_value = std::move(buf);
  return out;
}

absl::Status Core::SetTimeout(const CallContext& c, std::string_view handle, Timeout t) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  if (t.has_value() && t->count() < 0) {
    return RequestError(absl::StatusCode::kInvalidArgument, "NEGATIVE_TIMEOUT", "Timeout value out of range");
  }
  (*e)->set_timeout(t);
  return absl::OkStatus();
}

absl::StatusOr<Timeout> Core::GetTimeout(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  return (*e)->timeout();
}

absl::Status Core::SetInheritable(const CallContext& c, std::string_view handle, bool on) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  int flags = fcntl((*e)->fd(), F_GETFD);
  if (flags < 0) return OsError(errno, "fcntl");
  flags = on ? (flags & ~FD_CLOEXEC) : (flags | FD_CLOEXEC);
  if (fcntl((*e)->fd(), F_SETFD, flags) != 0) return OsError(errno, "fcntl");
  return registry_->SetInheritable(c.session, handle, on);
}

absl::StatusOr<bool> Core::GetInheritable(const CallContext& c, std::string_view handle) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  int flags = fcntl((*e)->fd(), F_GETFD);
  if (flags < 0) return OsError(errno, "fcntl");
  return (flags & FD_CLOEXEC) == 0;
}

absl::StatusOr<int64_t> Core::Ioctl(const CallContext& c, std::string_view handle, int request) {
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return e.status();
  unsigned long req;
  switch (request) {
    case 1: req = FIONREAD; break;
    case 2: req = SIOCOUTQ; break;
    case 3: req = SIOCATMARK; break;
    default:
      return RequestError(absl::StatusCode::kInvalidArgument, "BAD_IOCTL",
                          "ioctl must be FIONREAD, SIOCOUTQ or SIOCATMARK");
  }
  int v = 0;
  if (ioctl((*e)->fd(), req, &v) != 0) return OsError(errno, "ioctl");
  return static_cast<int64_t>(v);
}

// ---------------------------------------------------------------------------
// Data

absl::Status Core::ReserveSendBytes(const CallContext& c, uint64_t n, Done<int64_t>* done) {
  if (n == 0) return absl::OkStatus();
  if (auto st = registry_->ReserveBytes(c.session, n); !st.ok()) return st;
  // Released exactly once, when the send completes however it ends.
  Registry* reg = registry_.get();
  *done = [reg, session = c.session, n, inner = std::move(*done)](absl::StatusOr<int64_t> r) {
    reg->ReleaseBytes(session, n);
    inner(std::move(r));
  };
  return absl::OkStatus();
}

void Core::SendCommon(const CallContext& c, std::string_view handle, std::string data, int flags,
                      std::optional<Address> to, bool all, Done<int64_t> done) {
  if (auto st = CheckSize(static_cast<int64_t>(data.size()), options_.max_message_bytes, "data"); !st.ok()) {
    return done(st);
  }
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  auto s = *e;
  // The payload is held until the send completes: it counts against the
  // bytes-in-flight budget until `done` runs.
  if (auto st = ReserveSendBytes(c, data.size(), &done); !st.ok()) return done(st);
  bool dontwait = (flags & MSG_DONTWAIT) != 0;
  int sflags = (flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  auto go = [this, c, s, dontwait, sflags, all, done](std::string payload, std::optional<SockAddr> dest) {
    struct State {
      std::string data;
      size_t off = 0;
    };
    auto st = std::make_shared<State>();
    st->data = std::move(payload);
    RunWaitable<int64_t>(
        c, s, EPOLLOUT, dontwait, EAGAIN, all ? "sendall" : (dest ? "sendto" : "send"),
        [s, st, dest, sflags, all]() -> std::optional<absl::StatusOr<int64_t>> {
          for (;;) {
            ssize_t n;
            const char* p = st->data.data() + st->off;
            size_t left = st->data.size() - st->off;
            if (dest.has_value()) {
              n = ::sendto(s->fd(), p, left, sflags, dest->get(), dest->len);
            } else {
              n = ::send(s->fd(), p, left, sflags);
            }
            if (n < 0) {
              int err = errno;
              if (err == EINTR) continue;
              if (WouldBlock(err)) return std::nullopt;
              return absl::StatusOr<int64_t>(OsError(err, all ? "sendall" : "send"));
            }
            st->off += static_cast<size_t>(n);
            if (!all || st->off >= st->data.size()) return absl::StatusOr<int64_t>(static_cast<int64_t>(st->off));
          }
        },
        done);
  };
  if (!to.has_value()) return go(std::move(data), std::nullopt);
  auto payload = std::make_shared<std::string>(std::move(data));
  ResolveFor(c, s, std::move(*to), [this, c, s, go, payload, done](absl::StatusOr<SockAddr> sa) {
    if (!sa.ok()) return done(sa.status());
    if (auto st = AdmitSendTo(c, *s, &*sa); !st.ok()) return done(st);
    go(std::move(*payload), *sa);
  });
}

void Core::Send(const CallContext& c, std::string_view handle, std::string data, int flags, Done<int64_t> done) {
  SendCommon(c, handle, std::move(data), flags, std::nullopt, false, std::move(done));
}

void Core::SendAll(const CallContext& c, std::string_view handle, std::string data, int flags,
                   Done<int64_t> done) {
  SendCommon(c, handle, std::move(data), flags, std::nullopt, true, std::move(done));
}

void Core::SendTo(const CallContext& c, std::string_view handle, std::string data, int flags, Address to,
                  Done<int64_t> done) {
  SendCommon(c, handle, std::move(data), flags, std::move(to), false, std::move(done));
}

void Core::SendMsg(const CallContext& c, std::string_view handle, std::vector<std::string> buffers,
                   std::vector<Ancillary> ancillary, int flags, std::optional<Address> to, Done<int64_t> done) {
  size_t total = 0;
  for (auto& b : buffers) total += b.size();
  if (auto st = CheckSize(static_cast<int64_t>(total), options_.max_message_bytes, "data"); !st.ok()) return done(st);
  if (buffers.size() > IOV_MAX) {
    return done(RequestError(absl::StatusCode::kInvalidArgument, "TOO_LARGE", "too many buffers (IOV_MAX)"));
  }
  auto control = PackControl(policy_, ancillary);
  if (!control.ok()) return done(control.status());
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  auto s = *e;
  if (auto st = ReserveSendBytes(c, total + control->size(), &done); !st.ok()) return done(st);
  bool dontwait = (flags & MSG_DONTWAIT) != 0;
  int sflags = flags | MSG_NOSIGNAL | MSG_DONTWAIT;
  struct State {
    std::vector<std::string> buffers;
    std::string control;
  };
  auto st = std::make_shared<State>();
  st->buffers = std::move(buffers);
  st->control = *std::move(control);
  auto go = [this, c, s, st, dontwait, sflags, done](std::optional<SockAddr> dest) {
    RunWaitable<int64_t>(
        c, s, EPOLLOUT, dontwait, EAGAIN, "sendmsg",
        [s, st, dest, sflags]() -> std::optional<absl::StatusOr<int64_t>> {
          std::vector<iovec> iov;
          for (auto& b : st->buffers) iov.push_back({b.data(), b.size()});
          msghdr m{};
          SockAddr d;
          if (dest.has_value()) {
            d = *dest;
            m.msg_name = d.get();
            m.msg_namelen = d.len;
          }
          m.msg_iov = iov.data();
          m.msg_iovlen = iov.size();
          if (!st->control.empty()) {
            m.msg_control = st->control.data();
            m.msg_controllen = st->control.size();
          }
          for (;;) {
            ssize_t n = ::sendmsg(s->fd(), &m, sflags);
            if (n >= 0) return absl::StatusOr<int64_t>(static_cast<int64_t>(n));
            int err = errno;
            if (err == EINTR) continue;
            if (WouldBlock(err)) return std::nullopt;
            return absl::StatusOr<int64_t>(OsError(err, "sendmsg"));
          }
        },
        done);
  };
  if (!to.has_value()) return go(std::nullopt);
  ResolveFor(c, s, std::move(*to), [this, c, s, go, done](absl::StatusOr<SockAddr> sa) {
    if (!sa.ok()) return done(sa.status());
    if (auto st = AdmitSendTo(c, *s, &*sa); !st.ok()) return done(st);
    go(*sa);
  });
}

namespace {

// How many bytes the next recv on `s` may need, at most `cap`: what is queued
// on a stream socket (FIONREAD), the next datagram's length on a message
// socket (MSG_PEEK | MSG_TRUNC). nullopt when nothing is there (would
// block). A pending socket error (a datagram socket's ICMP refusal) is
// returned as the error recv would have returned.
absl::StatusOr<std::optional<size_t>> RecvBufferSize(const SocketEntry& s, size_t cap, int rflags,
                                                     const char* what) {
  constexpr size_t kSmall = 4096;  // A race with arriving data, OOB, EOF.
  if (cap == 0) return std::optional<size_t>(0);
  if (s.type() == SOCK_STREAM || (rflags & MSG_OOB) != 0) {
    int avail = 0;
    if ((rflags & MSG_OOB) != 0 || ioctl(s.fd(), FIONREAD, &avail) != 0) {
      return std::optional<size_t>(std::min(cap, kSmall));
    }
    return std::optional<size_t>(std::min(cap, std::max(static_cast<size_t>(avail), kSmall)));
  }
  for (;;) {
    ssize_t n = ::recv(s.fd(), nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (n >= 0) return std::optional<size_t>(std::min(cap, static_cast<size_t>(n)));
    int err = errno;
    if (err == EINTR) continue;
    if (WouldBlock(err)) return std::optional<size_t>();
    // Families that do not report the length with MSG_TRUNC: the old way.
    if (err == EOPNOTSUPP || err == EINVAL) return std::optional<size_t>(cap);
    return OsError(err, what);
  }
}

}  // namespace

void Core::RecvCommon(const CallContext& c, std::string_view handle, int64_t bufsize, int64_t ancbufsize,
                      int flags, bool want_from, bool want_msg, Done<RecvResult> done) {
  if (auto st = CheckSize(bufsize, options_.max_message_bytes, "bufsize"); !st.ok()) return done(st);
  if (auto st = CheckSize(ancbufsize, kMaxAncillaryBytes, "ancbufsize"); !st.ok()) return done(st);
  auto e = registry_->Find(c.session, handle);
  if (!e.ok()) return done(e.status());
  auto s = *e;
  bool dontwait = (flags & MSG_DONTWAIT) != 0;
  bool waitall = (flags & MSG_WAITALL) != 0 && s->type() == SOCK_STREAM && !want_msg && !want_from;
  int rflags = (flags & ~MSG_WAITALL) | MSG_DONTWAIT | MSG_CMSG_CLOEXEC;
  uint32_t events = (flags & MSG_OOB) ? (EPOLLPRI | EPOLLIN) : EPOLLIN;
  struct State {
    std::string acc;  // MSG_WAITALL progress.
  };
  auto st = std::make_shared<State>();
  const char* what = want_msg ? "recvmsg" : (want_from ? "recvfrom" : "recv");
  // MSG_WAITALL on TCP leaves the bytes in the kernel until bufsize can be
  // taken at once (or the peer is done, or kWaitallHold bytes wait), so a
  // cancelled call takes nothing. AF_UNIX streams cannot hold: many small
  // writes fill the sender's buffer long before bufsize (278 one-byte
  // writes), so they are taken as they come and a cancellation after part
  // of the data arrived loses that part (docs: README "Data loss").
  bool hold = waitall && (s->family() == AF_INET || s->family() == AF_INET6);
  if (waitall) {
    // Python: a MSG_WAITALL that runs out of time (or would block, on a
    // non-blocking socket) returns what arrived; only nothing is a timeout.
    done = [s, st, bufsize, rflags, done = std::move(done)](absl::StatusOr<RecvResult> r) {
      if (!r.ok() && !s->closed() &&
          (KindOf(r.status()) == ErrorKind::kTimeout || ErrnoOf(r.status()) == EAGAIN)) {
        while (st->acc.size() < static_cast<size_t>(bufsize)) {
          // Sized by what is queued, as every recv attempt is.
          auto sized = RecvBufferSize(*s, static_cast<size_t>(bufsize) - st->acc.size(), rflags, "recv");
          if (!sized.ok() || !sized->has_value()) break;
          std::string buf(**sized, '\0');
          ssize_t n = ::recv(s->fd(), buf.data(), buf.size(), rflags);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          st->acc.append(buf.data(), static_cast<size_t>(n));
        }
        if (!st->acc.empty()) {
          RecvResult part;
          part.data = std::move(st->acc);
          r = std::move(part);
        }
      }
      done(std::move(r));
    };
  }
  RunWaitable<RecvResult>(
      c, s, events, dontwait, EAGAIN, what,
      [s, st, bufsize, ancbufsize, rflags, want_from, want_msg, waitall, hold, what]()
          -> std::optional<absl::StatusOr<RecvResult>> {
        for (;;) {
          RecvResult r;
          // Allocate for what is there, not for bufsize: a 16 MiB recv on an
          // idle socket must not allocate (and zero) 16 MiB per attempt.
          size_t want = static_cast<size_t>(bufsize) - st->acc.size();
          if (hold && !WaitallCanTake(s->fd(), want)) return std::nullopt;
          if (auto sized = RecvBufferSize(*s, want, rflags, what); !sized.ok()) {
            return absl::StatusOr<RecvResult>(sized.status());
          } else if (!sized->has_value()) {
            if (waitall && !st->acc.empty() && s->closed()) break;
            return std::nullopt;
          } else {
            want = **sized;
          }
          r.data.resize(want);
          sockaddr_storage from{};
          std::string control(static_cast<size_t>(ancbufsize), '\0');
          iovec iov{r.data.data(), want};
          msghdr m{};
          if (want_from || want_msg) {
            m.msg_name = &from;
            m.msg_namelen = sizeof from;
          }
          m.msg_iov = &iov;
          m.msg_iovlen = 1;
          if (ancbufsize > 0) {
            m.msg_control = control.data();
            m.msg_controllen = control.size();
          }
          ssize_t n = ::recvmsg(s->fd(), &m, rflags);
          if (n < 0) {
            int err = errno;
            if (err == EINTR) continue;
            if (WouldBlock(err)) {
              if (waitall && !st->acc.empty() && s->closed()) break;
              return std::nullopt;
            }
            // An error after part of a MSG_WAITALL arrived: the part first.
            if (waitall && !st->acc.empty()) break;
            return absl::StatusOr<RecvResult>(OsError(err, what));
          }
          // MSG_TRUNC may report the datagram's full length; keep what fits.
          r.data.resize(std::min(static_cast<size_t>(n), want));
          if (waitall) {
            st->acc += r.data;
            if (n > 0 && st->acc.size() < static_cast<size_t>(bufsize)) continue;
            RecvResult done_r;
            done_r.data = std::move(st->acc);
            return absl::StatusOr<RecvResult>(std::move(done_r));
          }
          if ((want_from || want_msg) && m.msg_namelen > 0) {
            r.from = FromSockAddr(reinterpret_cast<sockaddr*>(&from), m.msg_namelen);
          }
          if (want_msg) {
            r.msg_flags = m.msg_flags;
            if (ancbufsize > 0) r.ancillary = UnpackControl(&m);
          }
          return absl::StatusOr<RecvResult>(std::move(r));
        }
        RecvResult done_r;
        done_r.data = std::move(st->acc);
        return absl::StatusOr<RecvResult>(std::move(done_r));
      },
      std::move(done));
}

void Core::Recv(const CallContext& c, std::string_view handle, int64_t bufsize, int flags, Done<RecvResult> done) {
  if (bufsize == 0) {
    // Python's recv(0) returns b'' at once, without waiting for data.
    auto e = registry_->Find(c.session, handle);
    if (!e.ok()) return done(e.status());
    return done(RecvResult{});
  }
  RecvCommon(c, handle, bufsize, 0, flags, false, false, std::move(done));
}

void Core::RecvFrom(const CallContext& c, std::string_view handle, int64_t bufsize, int flags,
                    Done<RecvResult> done) {
  RecvCommon(c, handle, bufsize, 0, flags, true, false, std::move(done));
}

void Core::RecvMsg(const CallContext& c, std::string_view handle, int64_t bufsize, int64_t ancbufsize, int flags,
                   Done<RecvResult> done) {
  RecvCommon(c, handle, bufsize, ancbufsize, flags, false, true, std::move(done));
}

namespace {

// A private epoll set over the polled sockets: the event loop waits on its
// single fd, so one Poll costs one wait however many handles it names.
class PollSet : public Pollable {
 public:
  // `release` gives the set's descriptor back to the budget when it closes.
  PollSet(UniqueFd fd, std::function<void()> release) : fd_(std::move(fd)), release_(std::move(release)) {}
  ~PollSet() override {
    fd_ = UniqueFd();
    release_();
  }
  int pollable_fd() const override { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::function<void()> release_;
};

}  // namespace

void Core::Poll(const CallContext& c, std::vector<PollItem> items, std::optional<std::chrono::nanoseconds> timeout,
                Done<std::vector<PollReady>> done) {
  // poll(2) refuses more entries than RLIMIT_NOFILE (EINVAL); such a Poll
  // could never be answered.
  size_t max_items = std::min<size_t>(65536, options_.fd_limit != 0 ? options_.fd_limit : NoFileLimit());
  if (items.size() > max_items) {
    return done(RequestError(absl::StatusCode::kInvalidArgument, "TOO_MANY_POLL_ITEMS",
                             absl::StrCat("a Poll names at most ", max_items, " handles (RLIMIT_NOFILE); got ",
                                          items.size())));
  }
  if (timeout.has_value() && timeout->count() < 0) {
    return done(RequestError(absl::StatusCode::kInvalidArgument, "NEGATIVE_TIMEOUT", "negative poll timeout"));
  }
  struct State {
    std::vector<std::shared_ptr<SocketEntry>> entries;
    std::vector<PollItem> items;
  };
  auto st = std::make_shared<State>();
  for (auto& it : items) {
    auto e = registry_->Find(c.session, it.handle);
    if (!e.ok()) return done(e.status());
    st->entries.push_back(*e);
  }
  st->items = std::move(items);
  auto check = [st]() -> absl::StatusOr<std::vector<PollReady>> {
    std::vector<pollfd> fds;
    for (size_t i = 0; i < st->items.size(); ++i) {
      fds.push_back({st->entries[i]->fd(), static_cast<short>(st->items[i].events), 0});
    }
    std::vector<PollReady> ready;
    int n;
    do {
      n = ::poll(fds.data(), fds.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return OsError(errno, "poll");
    if (n > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents != 0) ready.push_back({st->items[i].handle, fds[i].revents});
      }
    }
    return ready;
  };
  auto now_ready = check();
  if (!now_ready.ok() || !now_ready->empty() || (timeout.has_value() && timeout->count() == 0)) {
    return done(std::move(now_ready));
  }
  // The wait's epoll set is a descriptor held for the caller.
  if (auto st2 = registry_->ReserveDescriptors(1, "a Poll"); !st2.ok()) return done(st2);
  Registry* reg = registry_.get();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    int err = errno;
    reg->ReleaseDescriptors(1);
    return done(OsError(err, "epoll_create1"));
  }
  auto set = std::make_shared<PollSet>(UniqueFd(ep), [reg] { reg->ReleaseDescriptors(1); });
  for (size_t i = 0; i < st->items.size(); ++i) {
    epoll_event ev{};
    ev.events = static_cast<uint32_t>(st->items[i].events) | EPOLLERR | EPOLLHUP;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, st->entries[i]->fd(), &ev) != 0 && errno != EEXIST) {
      return done(OsError(errno, "epoll_ctl"));
    }
  }
  Clock::time_point deadline = c.deadline;
  if (timeout.has_value()) deadline = std::min(deadline, Clock::now() + *timeout);
  // The caller's deadline ending the wait is a timeout, as it was when gRPC
  // ended the call (the front-end's delivery margin ends it in the daemon
  // now); only the poll's own timeout means "nothing was ready".
  bool callers = deadline == c.deadline && c.deadline != Clock::time_point::max();
  auto shared_done = std::make_shared<Done<std::vector<PollReady>>>(std::move(done));
  loop_->Wait(
      set, EPOLLIN, deadline, c.cancel,
      [check, shared_done, set]() -> bool {
        auto r = check();
        if (r.ok() && r->empty()) return false;
        (*shared_done)(std::move(r));
        return true;
      },
      [shared_done, callers](absl::Status s) {
        // A poll timeout is not an error: nothing was ready.
        if (KindOf(s) == ErrorKind::kTimeout && !callers) return (*shared_done)(std::vector<PollReady>{});
        (*shared_done)(std::move(s));
      },
      [] { return TimeoutError("poll"); });
}

}  // namespace sockwire::core
