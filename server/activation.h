// Socket activation (systemd's LISTEN_FDS protocol, sd_listen_fds(3)): the
// listening sockets are created by the service manager (systemd's .socket unit,
// systemd-socket-activate, a container runtime) and inherited at fd 3, 4, ...
// The daemon then serves gRPC on them instead of binding its own.
//
// Contract of the environment, as systemd sets it:
//   LISTEN_PID      the pid the fds are meant for; another pid's fds are not
//                   ours (inherited by accident), so they are ignored.
//   LISTEN_FDS      how many fds, starting at 3 (SD_LISTEN_FDS_START).
//   LISTEN_FDNAMES  optional, colon-separated, one name per fd
//                   (FileDescriptorName= in the .socket unit).
// Each fd must be a listening SOCK_STREAM socket of AF_UNIX, AF_INET or
// AF_INET6; anything else refuses to start (fail closed: a misconfigured unit
// should not come up half-serving). Every fd serves gRPC, except that the
// names "rest" and "data" are refused until those front-ends can take an
// inherited socket (they still bind with --rest-listen/--data-listen).
//
// Ownership: TakeListenFds() takes the fds over (marks them close-on-exec and
// non-blocking) and unsets the three variables, as sd_listen_fds(1) does, so
// no child inherits them. InheritedAcceptor owns its fd from then on.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sockwire::core {
class EventLoop;
}

namespace sockwire::server {

constexpr int kListenFdsStart = 3;

// One inherited listening socket.
struct InheritedListener {
  int fd = -1;
  std::string name;     // From LISTEN_FDNAMES ("" when absent).
  // What it listens on: "unix:/path", "unix-abstract:NAME" or "tcp:HOST:PORT".
  // The daemon counts it among its own endpoints (no caller may reach it).
  std::string address;
  bool tcp = false;     // AF_INET/AF_INET6 (TCP rules apply: token or --insecure-tcp).
  bool loopback = false;  // A TCP socket bound to 127.0.0.0/8 or ::1.
};

// Validates the three variables against `self` and the fds they name. No
// LISTEN_PID/LISTEN_FDS, or a LISTEN_PID that is not `self`: an empty list.
// Does not modify the fds or the environment. Exposed for tests.
absl::StatusOr<std::vector<InheritedListener>> ParseListenFds(const char* listen_pid, const char* listen_fds,
                                                              const char* listen_fdnames, pid_t self);

// ParseListenFds on this process's environment, then takes the fds over (see
// above) and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
absl::StatusOr<std::vector<InheritedListener>> TakeListenFds();

// Feeds the connections of one inherited listening socket to a gRPC server.
// gRPC 1.51 cannot listen on a given fd, but it takes accepted connections
// through its (experimental) ExternalConnectionAcceptor, which gives them the
// same transport, credentials and peer string ("unix:..." / "ipv4:...") as
// connections it accepted itself. Accepts are readiness-driven on an
// EventLoop: no thread blocks in accept().
//
// Life cycle: construct (registers with the builder, before BuildAndStart),
// Start() once the server runs, Shutdown() before the server goes away.
// Thread-safe: Shutdown may race with accepts on the loop thread.
class InheritedAcceptor {
 public:
  InheritedAcceptor(InheritedListener listener, grpc::ServerBuilder& builder);
  ~InheritedAcceptor();
  InheritedAcceptor(const InheritedAcceptor&) = delete;
  InheritedAcceptor& operator=(const InheritedAcceptor&) = delete;

  // Starts accepting on `loop` (which must outlive Shutdown()).
  void Start(core::EventLoop& loop);
  // Stops accepting and closes the listening fd. Idempotent. The socket file
  // of a unix listener is left in place: it belongs to whoever created it.
  void Shutdown();

  const InheritedListener& listener() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sockwire::server
