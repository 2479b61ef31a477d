// sockwired: parses flags, starts the daemon, waits for SIGTERM/SIGINT.
#include <malloc.h>
#include <signal.h>
#include <stdio.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <grpc/grpc.h>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "daemon.h"
#include "server/obs/log.h"

namespace {

constexpr char kHelp[] = R"(sockwired - sockets as a service (gRPC + REST)

Usage: sockwired [flags]

  --listen=ADDR              gRPC listener, repeatable. unix:/path or tcp:HOST:PORT
                             (port 0 picks one). Default: unix:%s (0600)
  --rest-listen=ADDR         REST/WebSocket listener (same syntax). Default: off
  --token-file=PATH          bearer token required from TCP clients
  --insecure-tcp             allow a gRPC TCP listener without TLS (plain text; a warning is printed)
  --tls-cert=PATH            PEM certificate chain for gRPC TCP listeners (TLS 1.2 or newer)
  --tls-key=PATH             PEM private key for --tls-cert
  --tls-client-ca=PATH       require client certificates signed by this CA (mutual TLS); the
                             certificate's URI SAN, DNS SAN or CN becomes the caller's principal
  --ready-fd=N               write one JSON line of bound addresses to fd N once serving
  --log-level=LEVEL          debug, info, warning, error (default info)
  --log-format=FORMAT        text or json (one object per line) on stderr (default text)
  --metrics-listen=ADDR      Prometheus /metrics, /healthz, /readyz (same syntax). Default: off
  --drain-period=DURATION    on SIGTERM, report NOT_SERVING this long before closing (default 0)
  --session-grace=DURATION   how long a session outlives its client (default 5s)
  --session-lease=DURATION   idle lifetime of a session without a Hold stream (default 60s)
  --orphan-ttl=DURATION      lifetime of detached sockets nobody re-attached (default 10m)
  --max-handles-per-session=N  (default min(200000, max-handles / 2))
  --max-sessions=N           (default 10000)
  --max-handles=N            descriptors lent to clients daemon-wide: handles, data-channel
                             pipes, pending Poll sets (default RLIMIT_NOFILE - fd-reserve; the soft
                             limit is raised to the hard one at start)
  --fd-reserve=N             descriptors never lent out (default max(min(limit/2, 256), limit/8))
  --max-implicit-sessions=N  live sessions opened for header-less REST requests that left sockets
                             in them (default max-sessions / 4)
  --max-bytes-in-flight=N    payload bytes of pending send calls, daemon-wide (default 268435456)
  --max-bytes-in-flight-per-session=N  the same per session (default 67108864)
  --rest-max-connections=N   open REST connections (default min(512, fd-reserve / 4))
  --rest-header-timeout=DURATION  time a REST connection has to send its request head (default 10s)
  --rest-slots-per-session=N concurrent REST requests/streams per session (default 8)
  --data-max-pending=N       data-listener connections without a token yet (default min(256, fd-reserve / 8))
  --data-handshake-timeout=DURATION  time to present the data-channel token (default 5s)
  --max-message-bytes=N      largest send/recv payload of one call (default 16777216)
  --resolver-threads=N       getaddrinfo worker threads (default 4)
  --policy-file=PATH         JSON policy: families, raw sockets, privileged options, address and
                             AF_UNIX path rules (docs/security.md); a bad file refuses to start
  --allow-sethostname        let ResolverService.SetHostName change the UTS hostname
  --allow-fd-passing         let local clients take real descriptors (SCM_RIGHTS)
  --help                     this text

Durations: 250ms, 5s, 2m, or plain seconds.

Socket activation: listening sockets passed by systemd (LISTEN_PID, LISTEN_FDS,
LISTEN_FDNAMES; see deploy/systemd/) serve gRPC; then there is no default
listener, and --listen adds more.
)";

bool ParseDuration(const std::string& v, std::chrono::milliseconds* out) {
  double n = 0;
  std::string num = v;
  double scale = 1000;
  if (v.size() > 2 && v.substr(v.size() - 2) == "ms") {
    num = v.substr(0, v.size() - 2);
    scale = 1;
  } else if (!v.empty() && v.back() == 's') {
    num = v.substr(0, v.size() - 1);
  } else if (!v.empty() && v.back() == 'm') {
    num = v.substr(0, v.size() - 1);
    scale = 60000;
  }
  if (!absl::SimpleAtod(num, &n) || n < 0) return false;
  *out = std::chrono::milliseconds(static_cast<int64_t>(n * scale));
  return true;
}

[[noreturn]] void Usage(const std::string& error) {
  std::cerr << "sockwired: " << error << "\n(see sockwired --help)\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // Bulk streams allocate and free 256 KiB buffers continuously. With glibc's
  // defaults those are mmap'd or trimmed back to the kernel and faulted in
  // again each time (perf: page faults were ~15% of the daemon's CPU during a
  // stream bulk transfer). Fixed thresholds keep such buffers in the heap.
  // The cost, for the whole process: glibc's adaptive mmap threshold is off,
  // and each malloc arena may keep up to 32 MiB of freed memory before it
  // returns any to the kernel.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  sockwire::server::Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string key = arg, val;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      key = arg.substr(0, eq);
      val = arg.substr(eq + 1);
    }
    auto need_val = [&] {
      if (val.empty()) Usage(key + " needs a value (" + key + "=...)");
    };
    auto u64 = [&](uint64_t* out) {
      need_val();
      if (!absl::SimpleAtoi(val, out)) Usage("bad number for " + key + ": " + val);
    };
    auto dur = [&](std::chrono::milliseconds* out) {
      need_val();
      if (!ParseDuration(val, out)) Usage("bad duration for " + key + ": " + val);
    };
    uint64_t n = 0;
    if (key == "--help" || key == "-h") {
      std::printf(kHelp, sockwire::server::DefaultListenAddress().substr(5).c_str());
      return 0;
    } else if (key == "--listen") {
      need_val();
      o.listen.push_back(val);
    } else if (key == "--rest-listen") {
      need_val();
      o.rest_listen = val;
    } else if (key == "--data-listen") {
      need_val();
      o.data_listen = val;
    } else if (key == "--token-file") {
      need_val();
      o.token_file = val;
    } else if (key == "--insecure-tcp") {
      o.insecure_tcp = true;
    } else if (key == "--tls-cert") {
      need_val();
      o.tls_cert_file = val;
    } else if (key == "--tls-key") {
      need_val();
      o.tls_key_file = val;
    } else if (key == "--tls-client-ca") {
      need_val();
      o.tls_client_ca_file = val;
    } else if (key == "--ready-fd") {
      u64(&n);
      o.ready_fd = static_cast<int>(n);
    } else if (key == "--log-level") {
      need_val();
      o.log_level = val;
    } else if (key == "--log-format") {
      need_val();
      if (val != "text" && val != "json") Usage("--log-format must be text or json");
      o.log_format = val;
    } else if (key == "--metrics-listen") {
      need_val();
      o.metrics_listen = val;
    } else if (key == "--drain-period") {
      dur(&o.drain_period);
    } else if (key == "--session-grace") {
      dur(&o.session_grace);
    } else if (key == "--session-lease") {
      dur(&o.session_lease);
    } else if (key == "--orphan-ttl") {
      dur(&o.orphan_ttl);
    } else if (key == "--max-handles-per-session") {
      u64(&n);
      o.max_handles_per_session = static_cast<uint32_t>(n);
    } else if (key == "--max-handles") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--max-handles must be 1..4294967295");
      o.max_handles = static_cast<uint32_t>(n);
    } else if (key == "--fd-reserve") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--fd-reserve must be 1..4294967295");
      o.fd_reserve = static_cast<uint32_t>(n);
    } else if (key == "--max-implicit-sessions") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--max-implicit-sessions must be at least 1");
      o.max_implicit_sessions = static_cast<uint32_t>(n);
    } else if (key == "--max-bytes-in-flight") {
      u64(&o.max_bytes_in_flight);
      if (o.max_bytes_in_flight == 0) Usage("--max-bytes-in-flight must be at least 1");
    } else if (key == "--max-bytes-in-flight-per-session") {
      u64(&o.max_bytes_in_flight_per_session);
      if (o.max_bytes_in_flight_per_session == 0) Usage("--max-bytes-in-flight-per-session must be at least 1");
    } else if (key == "--rest-max-connections") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--rest-max-connections must be at least 1");
      o.rest_max_connections = static_cast<uint32_t>(n);
    } else if (key == "--rest-header-timeout") {
      dur(&o.rest_header_timeout);
    } else if (key == "--rest-slots-per-session") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--rest-slots-per-session must be at least 1");
      o.rest_slots_per_session = static_cast<uint32_t>(n);
    } else if (key == "--data-max-pending") {
      u64(&n);
      if (n == 0 || n > UINT32_MAX) Usage("--data-max-pending must be at least 1");
      o.data_max_pending = static_cast<uint32_t>(n);
    } else if (key == "--data-handshake-timeout") {
      dur(&o.data_handshake_timeout);
    } else if (key == "--max-sessions") {
      u64(&n);
      o.max_sessions = static_cast<uint32_t>(n);
    } else if (key == "--max-message-bytes") {
      u64(&o.max_message_bytes);
      if (o.max_message_bytes == 0 || o.max_message_bytes > (1u << 30)) Usage("--max-message-bytes must be 1..1073741824");
    } else if (key == "--resolver-threads") {
      u64(&n);
      o.resolver_threads = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(n, 64)));
    } else if (key == "--policy-file") {
      need_val();
      o.policy_file = val;
    } else if (key == "--allow-sethostname") {
      o.allow_sethostname = true;
    } else if (key == "--allow-fd-passing") {
      o.allow_fd_passing = true;
    } else {
      Usage("unknown flag " + arg);
    }
  }

  sockwire::obs::Level level;
  if (!sockwire::obs::ParseLevel(o.log_level, &level)) Usage("--log-level must be debug, info, warning or error");
  sockwire::obs::InitLogging(level, o.log_format == "json");

  // Signals go to one thread; a write to a closed socket is an EPIPE, never a
  // process-killing SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  // Threads start only after this point (gRPC's included), so they inherit
  // the blocked mask and SIGTERM reaches sigwait below.
  // Keep gRPC initialized for the life of the process: otherwise ~Server runs
  // grpc_shutdown(), which (gRPC 1.51) can block ~10 s joining an executor
  // thread after streams wrote from non-gRPC threads.
  grpc_init();
  // Deadlock-cycle detection costs ~4% CPU on the hot path (measured with
  // perf during the echo benchmark).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Listening sockets from systemd (LISTEN_FDS), taken before any thread starts.
  auto inherited = sockwire::server::TakeListenFds();
  if (!inherited.ok()) {
    std::cerr << "sockwired: " << inherited.status().message() << "\n";
    return 1;
  }
  sockwire::server::Daemon daemon(o);
  daemon.InheritListeners(*std::move(inherited));
  if (auto st = daemon.Start(); !st.ok()) {
    sockwire::obs::Log(sockwire::obs::Level::kError, "start_failed", {{"error", std::string(st.message())}});
    std::cerr << "sockwired: " << st.message() << "\n";
    return 1;
  }
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    sockwire::obs::Log(sockwire::obs::Level::kInfo, "signal", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    daemon.Drain();
    daemon.Shutdown();
  });
  daemon.Wait();
  // Wait returns once Shutdown has stopped the server.
  signals.join();
  return 0;
}
