// The socket core: sessions, the handle table and every socket operation, in
// plain C++ values. Front-ends (gRPC, REST) decode, call one of these, encode.
//
// Operations that can wait (accept, connect, send*, recv*, poll) complete
// through a callback: inline on the caller's thread when the syscall succeeds
// at once, else later on the event-loop thread. The callback runs exactly
// once. Nothing here ever blocks a thread on the network.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "event_loop.h"
#include "policy.h"
#include "principal.h"
#include "resolver.h"
#include "server/options.h"

namespace sockwire::core {

class SocketEntry;
class Session;
class Registry;

// Python's timeout mode: nullopt = None (blocking), zero = non-blocking.
using Timeout = std::optional<std::chrono::nanoseconds>;

// A socket address in the seed's terms.
struct Address {
  int family = 0;  // AF_INET, AF_INET6, AF_UNIX; 0 = none.
  std::string host;
  uint32_t port = 0;
  uint32_t flowinfo = 0;
  uint32_t scope_id = 0;
  std::string path;       // AF_UNIX: path, or the abstract name's bytes.
  bool abstract = false;  // AF_UNIX: Linux abstract namespace.
};

struct SocketInfo {
  std::string handle;
  int family = 0;
  int type = 0;
  int proto = 0;
  std::optional<Address> local;
  std::optional<Address> peer;
  Timeout timeout;
  bool inheritable = false;
  bool detached = false;
  bool listening = false;
};

struct AcceptResult {
  SocketInfo socket;
  Address peer;
};

struct Ancillary {
  int level = 0;
  int type = 0;
  std::string data;
};

struct RecvResult {
  std::string data;
  std::optional<Address> from;
  std::vector<Ancillary> ancillary;
  int msg_flags = 0;
};

struct PollItem {
  std::string handle;
  int events = 0;
};

struct PollReady {
  std::string handle;
  int revents = 0;
};

// What every call carries from its front-end.
struct CallContext {
  std::shared_ptr<Session> session;
  // The caller's own deadline (gRPC deadline); a shorter one than the
  // socket's timeout wins.
  Clock::time_point deadline = Clock::time_point::max();
  std::shared_ptr<CancelToken> cancel;
};

template <class T>
using Done = std::function<void(absl::StatusOr<T>)>;
using DoneStatus = std::function<void(absl::Status)>;

// The typed option names of the proto, resolved to (level, optname).
struct OptionValue {
  enum class Kind { kNone, kInt, kBytes, kLinger, kMembership } kind = Kind::kNone;
  int64_t int_value = 0;
  std::string bytes_value;
  bool linger_on = false;
  int linger_seconds = 0;
  std::string group;
  std::string interface_address;
  uint32_t interface_index = 0;
};

class Core {
 public:
  explicit Core(const server::Options& options);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  EventLoop& loop() { return *loop_; }
  Resolver& resolver() { return *resolver_; }
  const server::Options& options() const { return options_; }
  // Replaces the resolver (the resolver service may install c-ares).
  void set_resolver(std::unique_ptr<Resolver> r) { resolver_ = std::move(r); }
  // Installs the policy (before serving; not thread-safe against calls).
  void set_policy(Policy p) { policy_ = std::move(p); }
  const Policy& policy() const { return policy_; }
  // The daemon's listeners, which no socket of a caller may reach.
  OwnEndpoints& own_endpoints() { return own_; }

  // Boot epoch embedded in handles and session tokens.
  const std::string& epoch() const;

  // ---- Sessions ----
  // A session of `principal` (principal.h). `implicit`: opened by the REST
  // gateway for a header-less request (counted against
  // --max-implicit-sessions).
  absl::StatusOr<std::shared_ptr<Session>> OpenSession(std::string_view principal = kAnonymousPrincipal,
                                                       bool implicit = false);
  // Handles `s` holds now.
  size_t SessionHandleCount(const std::shared_ptr<Session>& s) const;
  // Descriptors a data path holds for a client outside the handle table
  // (a data channel's pipes): they count against --max-handles.
  absl::Status ReserveDescriptors(int n, std::string_view what);
  void ReleaseDescriptors(int n);
  // UNAUTHENTICATED if unknown or expired, or when it belongs to another
  // principal: a named principal's session is found only by that principal,
  // and a named principal never finds an unnamed caller's session. Renews
  // the lease.
  absl::StatusOr<std::shared_ptr<Session>> FindSession(std::string_view token,
                                                       std::string_view principal = kAnonymousPrincipal);
  // A Hold stream started / ended (ending starts the grace period).
  void HoldSession(const std::shared_ptr<Session>& s);
  void ReleaseSession(const std::shared_ptr<Session>& s);
  // Bytes moved on a data stream or relay of `s`: renews its lease, as a
  // call would, at most every kTouchEvery per transfer (`*last` is the
  // transfer's own record of its last renewal). An idle stream does not keep
  // a session alive: a client that vanished must not hold its sockets.
  void TouchSession(const std::shared_ptr<Session>& s, Clock::time_point* last);
  static constexpr std::chrono::milliseconds kTouchEvery{250};
  // Ends the session now; returns how many sockets were closed.
  int CloseSession(const std::shared_ptr<Session>& s);
  size_t session_count() const;
  size_t handle_count() const;

  // ---- Creation and lifetime ----
  absl::StatusOr<SocketInfo> Create(const CallContext& c, int family, int type, int proto,
                                    bool nonblock, bool cloexec);
  absl::StatusOr<std::pair<SocketInfo, SocketInfo>> CreatePair(const CallContext& c, int family,
                                                               int type, int proto);
  void CreateConnection(const CallContext& c, Address address, Timeout timeout,
                        std::optional<Address> source, Done<SocketInfo> done);
  absl::Status Close(const CallContext& c, std::string_view handle);
  absl::StatusOr<SocketInfo> Dup(const CallContext& c, std::string_view handle);
  absl::StatusOr<std::string> Detach(const CallContext& c, std::string_view handle);
  absl::StatusOr<SocketInfo> Attach(const CallContext& c, std::string_view handle);
  absl::StatusOr<std::string> Share(const CallContext& c, std::string_view handle);
  absl::StatusOr<SocketInfo> FromShare(const CallContext& c, std::string_view token);
  absl::StatusOr<SocketInfo> GetInfo(const CallContext& c, std::string_view handle);
  std::vector<SocketInfo> List(const CallContext& c);

  // ---- Addressing ----
  void Bind(const CallContext& c, std::string_view handle, Address a, DoneStatus done);
  absl::Status Listen(const CallContext& c, std::string_view handle, std::optional<int> backlog);
  void Accept(const CallContext& c, std::string_view handle, Done<AcceptResult> done);
  // Fails with the OS error; ConnectEx front-ends turn that into an errno.
  void Connect(const CallContext& c, std::string_view handle, Address a, DoneStatus done);
  absl::Status Shutdown(const CallContext& c, std::string_view handle, int how);
  absl::StatusOr<Address> GetSockName(const CallContext& c, std::string_view handle);
  absl::StatusOr<Address> GetPeerName(const CallContext& c, std::string_view handle);

  // ---- Options and modes ----
  // `typed` is the proto's OptionName number, or 0 for raw (level, optname).
  absl::Status SetSockOpt(const CallContext& c, std::string_view handle, int typed, int level,
                          int optname, const OptionValue& value, uint32_t optlen);
  absl::StatusOr<OptionValue> GetSockOpt(const CallContext& c, std::string_view handle, int typed,
                                         int level, int optname, uint32_t buflen);
  absl::Status SetTimeout(const CallContext& c, std::string_view handle, Timeout t);
  absl::StatusOr<Timeout> GetTimeout(const CallContext& c, std::string_view handle);
  absl::Status SetInheritable(const CallContext& c, std::string_view handle, bool on);
  absl::StatusOr<bool> GetInheritable(const CallContext& c, std::string_view handle);
  // request: 1 FIONREAD, 2 SIOCOUTQ, 3 SIOCATMARK (the proto's numbers).
  absl::StatusOr<int64_t> Ioctl(const CallContext& c, std::string_view handle, int request);

  // ---- Data ----
  void Send(const CallContext& c, std::string_view handle, std::string data, int flags,
            Done<int64_t> done);
  void SendAll(const CallContext& c, std::string_view handle, std::string data, int flags,
               Done<int64_t> done);
  void SendTo(const CallContext& c, std::string_view handle, std::string data, int flags,
              Address to, Done<int64_t> done);
  void SendMsg(const CallContext& c, std::string_view handle, std::vector<std::string> buffers,
               std::vector<Ancillary> ancillary, int flags, std::optional<Address> to,
               Done<int64_t> done);
  void Recv(const CallContext& c, std::string_view handle, int64_t bufsize, int flags,
            Done<RecvResult> done);
  void RecvFrom(const CallContext& c, std::string_view handle, int64_t bufsize, int flags,
                Done<RecvResult> done);
  void RecvMsg(const CallContext& c, std::string_view handle, int64_t bufsize, int64_t ancbufsize,
               int flags, Done<RecvResult> done);
  // nullopt timeout: until the caller's deadline.
  void Poll(const CallContext& c, std::vector<PollItem> items,
            std::optional<std::chrono::nanoseconds> timeout, Done<std::vector<PollReady>> done);

  // For data paths outside the RPCs (stream, raw channel, fd passing): the
  // live socket behind a handle, checked against the session.
  absl::StatusOr<std::shared_ptr<SocketEntry>> Lookup(const CallContext& c, std::string_view handle);

 private:
  SocketInfo Describe(const SocketEntry& e);
  absl::StatusOr<SocketInfo> Publish(const CallContext& c, std::shared_ptr<SocketEntry> e);
  // Runs `attempt` now; if it would block, applies the timeout mode and
  // waits for `events`. `attempt` returns nullopt for "would block".
  template <class T>
  void RunWaitable(const CallContext& c, const std::shared_ptr<SocketEntry>& s, uint32_t events,
                   bool nonblocking, int would_block_errno, std::string_view what,
                   std::function<std::optional<absl::StatusOr<T>>()> attempt, Done<T> done);
  // Address -> sockaddr for socket `s`, resolving host names asynchronously.
  void ResolveFor(const CallContext& c, const std::shared_ptr<SocketEntry>& s, Address a,
                  Done<SockAddr> done);
  // The one policy check: every bind, connect, listen and send to an address
  // passes here, on the address the kernel will use (destination.h). May
  // rewrite `sa` (an AF_UNIX path to its canonical form).
  // The caller's principal (its session's) selects the rules that apply.
  absl::Status Admit(const CallContext& c, int fd, PolicyOp op, SockAddr* sa);
  // sendto/sendmsg with an address; on a TCP socket that is a connect too
  // (MSG_FASTOPEN opens the connection).
  absl::Status AdmitSendTo(const CallContext& c, const SocketEntry& s, SockAddr* sa);
  void ConnectEntry(const CallContext& c, const std::shared_ptr<SocketEntry>& s, SockAddr sa,
                    bool unused, DoneStatus done);
  // Takes `n` bytes from the bytes-in-flight budget and wraps `*done` to
  // give them back; RESOURCE_EXHAUSTED (and `*done` untouched) when over.
  absl::Status ReserveSendBytes(const CallContext& c, uint64_t n, Done<int64_t>* done);
  void SendCommon(const CallContext& c, std::string_view handle, std::string data, int flags,
                  std::optional<Address> to, bool all, Done<int64_t> done);
  void RecvCommon(const CallContext& c, std::string_view handle, int64_t bufsize,
                  int64_t ancbufsize, int flags, bool want_from, bool want_msg,
                  Done<RecvResult> done);

  server::Options options_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<Registry> registry_;
  Policy policy_;
  OwnEndpoints own_;
  void* reaper_ = nullptr;  // The self-rescheduling reap task.
};

}  // namespace sockwire::core
