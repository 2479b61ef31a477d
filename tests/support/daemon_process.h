// Starts a real sockwired for a test and stops it in the destructor.
//
// The daemon listens on a Unix socket in a fresh temp dir (gRPC) and, when
// asked, on 127.0.0.1 port 0 (REST); it writes its bound addresses as one JSON
// line to a pipe (--ready-fd), so readiness is a blocking read, never a sleep.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace sockwire::testing {

// How the child is started, beyond its flags.
struct DaemonLaunch {
  // RLIMIT_NOFILE (soft and hard) set in the child before exec; 0 = inherit.
  // Makes descriptor exhaustion reachable in a test.
  unsigned long nofile_limit = 0;
};

class DaemonProcess {
 public:
  // Starts sockwired with `extra_args` appended to the defaults. Aborts the
  // test binary (with the daemon's stderr) if it does not come up.
  explicit DaemonProcess(std::vector<std::string> extra_args = {}, DaemonLaunch launch = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  // gRPC target, e.g. "unix:/tmp/sockwire-test-XXXX/sockwired.sock".
  const std::string& grpc_target() const { return grpc_target_; }
  // REST address "127.0.0.1:PORT" or "unix:/path", empty when not enabled.
  const std::string& rest_target() const { return rest_target_; }
  // A private temp dir for the test's own Unix sockets; removed on exit.
  const std::string& temp_dir() const { return temp_dir_; }
  // The raw ready line the daemon printed.
  const std::string& ready_line() const { return ready_line_; }

  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Open descriptors and threads of the daemon, from /proc.
  int OpenFdCount() const;
  int ThreadCount() const;
  // Resident set size in KiB.
  long RssKib() const;
  // User + system CPU time the daemon has used, in seconds (/proc/PID/stat).
  double CpuSeconds() const;
  // The data listener's address from the ready line ("tcp:HOST:PORT",
  // "unix:/path"), empty when not enabled.
  std::string data_target() const;

  // Sends SIGTERM and waits; returns the exit status (as from waitpid).
  int Stop();

 private:
  pid_t pid_ = -1;
  std::string temp_dir_;
  std::string grpc_target_;
  std::string rest_target_;
  std::string ready_line_;
};

// Opens a session on `channel`; returns the token to send as
// "sockwire-session" metadata. Aborts on failure.
std::string OpenSession(const std::shared_ptr<grpc::Channel>& channel);

// A ClientContext carrying the session metadata (and an optional deadline).
std::unique_ptr<grpc::ClientContext> SessionContext(const std::string& session,
                                                    int deadline_ms = 10000);

// Path of the sockwired binary under test.
std::string SockwiredPath();

}  // namespace sockwire::testing
