#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/core.h"
#include "core/errors.h"
#include "core/fd_limits.h"
#include "data/data_frontend.h"
#include "grpc/identity.h"
#include "grpc/metrics_interceptor.h"
#include "grpc/session_service.h"
#include "grpc/socket_service.h"
#include "grpc/stream_service.h"
#include "resolver/resolver_service.h"
#include "ops/metrics_server.h"
#include "ops/ops.h"
#include "rest/rest_frontend.h"
#include "server/obs/log.h"
#include "server/obs/metrics.h"

namespace sockwire::server {
namespace {

// Parsed "unix:/path" or "tcp:host:port".
struct ListenSpec {
  bool unix_socket = false;
  std::string path;      // unix
  std::string hostport;  // tcp, as gRPC wants it
};

absl::StatusOr<ListenSpec> ParseListen(const std::string& s) {
  ListenSpec spec;
  if (absl::StartsWith(s, "unix:")) {
    spec.unix_socket = true;
    spec.path = s.substr(5);
    if (spec.path.empty()) return absl::InvalidArgumentError("unix: listener needs a path");
    return spec;
  }
  if (absl::StartsWith(s, "tcp:")) {
    spec.hostport = s.substr(4);
    if (spec.hostport.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("tcp listener \"", s, "\" needs HOST:PORT"));
    }
    return spec;
  }
  return absl::InvalidArgumentError(absl::StrCat("listener \"", s, "\" must start with unix: or tcp:"));
}

std::string ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  std::string tok;
  std::getline(in, tok);
  while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
  return tok;
}

int CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the directory's own descriptor.
}

// Every second, a timer on the event loop notes how late it ran.
void ScheduleLagProbe(core::EventLoop* loop, std::shared_ptr<std::atomic<bool>> stop) {
  auto due = core::Clock::now() + std::chrono::seconds(1);
  loop->PostAt(due, [loop, due, stop] {
    if (stop->load()) return;
    double lag = std::chrono::duration<double>(core::Clock::now() - due).count();
    obs::metrics::LoopLag().Set(lag);
    obs::metrics::LoopLagHistogram().Observe(lag);
    ScheduleLagProbe(loop, stop);
  });
}

}  // namespace

std::string DefaultListenAddress() {
  std::string dir;
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    dir = absl::StrCat(xdg, "/sockwire");
  } else if (geteuid() == 0) {
    dir = "/run/sockwire";
  } else {
    dir = absl::StrCat("/tmp/sockwire-", geteuid());
  }
  return absl::StrCat("unix:", dir, "/sockwired.sock");
}

Daemon::Daemon(Options options) : options_(std::move(options)) {}

Daemon::~Daemon() { Shutdown(); }

absl::Status Daemon::Start() {
  // Before any descriptor is opened: the soft limit up to the hard one, then
  // every derived cap below it (core/fd_limits.h).
  if (std::string err = core::ApplyDescriptorDefaults(core::RaiseNoFileLimit(), &options_); !err.empty()) {
    return absl::InvalidArgumentError(err);
  }
  if (options_.listen.empty() && inherited_.empty()) options_.listen.push_back(DefaultListenAddress());
  std::string token;
  if (!options_.token_file.empty()) {
    token = ReadTokenFile(options_.token_file);
    if (token.empty()) return absl::InvalidArgumentError("--token-file is empty or unreadable");
  }
  auto tls = MakeTlsServerCredentials(options_);
  if (!tls.ok()) return tls.status();
  const bool mtls = *tls != nullptr && !options_.tls_client_ca_file.empty();
  std::vector<ListenSpec> specs;
  for (const auto& l : options_.listen) {
    auto spec = ParseListen(l);
    if (!spec.ok()) return spec.status();
    if (!spec->unix_socket) {
      // A TCP listener: TLS plus a caller check (a token or a client
      // certificate), or plain text only when asked for by name.
      if (*tls == nullptr && !options_.insecure_tcp) {
        return absl::FailedPreconditionError(
            "a gRPC TCP listener needs TLS (--tls-cert, --tls-key) and --token-file or --tls-client-ca; "
            "--insecure-tcp serves plain text to anyone who can connect");
      }
      if (*tls != nullptr && token.empty() && !mtls && !options_.insecure_tcp) {
        return absl::FailedPreconditionError(
            "a TLS listener without --token-file or --tls-client-ca lets anyone call; add one (or --insecure-tcp)");
      }
      if (*tls == nullptr) {
        std::fprintf(stderr, "sockwired: warning: %s serves plain-text gRPC (--insecure-tcp)%s\n", l.c_str(),
                     token.empty() ? " to anyone who can connect" : "; the bearer token crosses the network in clear");
      }
    } else {
      // A runtime directory only we can enter, and no stale socket file.
      std::string dir = spec->path.substr(0, spec->path.rfind('/'));
      if (!dir.empty()) mkdir(dir.c_str(), 0700);
      struct stat st;
      if (lstat(spec->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(spec->path.c_str());
    }
    specs.push_back(*spec);
  }
  for (const auto& l : inherited_) {
    if (l.tcp && token.empty() && !options_.insecure_tcp) {
      return absl::FailedPreconditionError(absl::StrCat("inherited TCP listener ", l.address,
                                                        " needs --token-file (or --insecure-tcp)"));
    }
  }

  core_ = std::make_unique<core::Core>(options_);
  if (!options_.policy_file.empty()) {
    auto policy = core::Policy::FromFile(options_.policy_file);
    if (!policy.ok()) return policy.status();
    core_->set_policy(*std::move(policy));
  }
  // No caller's socket may reach the daemon's own listeners (a connection
  // from the daemon is root's, and loopback's).
  for (const auto& spec : specs) {
    if (spec.unix_socket) core_->own_endpoints().Add("unix:" + spec.path);
  }
  for (const auto& l : inherited_) core_->own_endpoints().Add(l.address);
  if (auto svc = MakeResolverService(*core_, options_)) services_.push_back(std::move(svc));
  services_.push_back(MakeSocketService(*core_, token));
  services_.push_back(MakeStreamService(*core_, token));
  services_.push_back(MakeSessionService(*core_, token));
  session_service_ = services_.back().get();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int max_msg = static_cast<int>(std::min<uint64_t>(options_.max_message_bytes * 2 + (1 << 20), INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_msg);
  builder.SetMaxSendMessageSize(max_msg);
  // Many blocked calls per connection are normal (1,000 pending accepts).
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1 << 20);
  // A client that vanishes without closing its connection (a host gone, a
  // cable pulled) must not hold its Hold stream, and so its session and
  // sockets, forever: ping idle connections and drop silent ones.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  std::vector<int> ports(specs.size(), 0);
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string addr = specs[i].unix_socket ? "unix:" + specs[i].path : specs[i].hostport;
    auto creds = specs[i].unix_socket || *tls == nullptr ? grpc::InsecureServerCredentials() : *tls;
    builder.AddListeningPort(addr, creds, specs[i].unix_socket ? nullptr : &ports[i]);
  }
  for (auto& l : inherited_) acceptors_.push_back(std::make_unique<InheritedAcceptor>(std::move(l), builder));
  inherited_.clear();
  for (auto& s : services_) builder.RegisterService(s.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeMetricsInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // The socket is created by gRPC with the process umask: make it 0600.
  mode_t old = umask(0177);
  server_ = builder.BuildAndStart();
  umask(old);
  if (!server_) return absl::UnavailableError("could not start the gRPC server (address in use or not allowed?)");
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].unix_socket) {
      chmod(specs[i].path.c_str(), 0600);
      grpc_addresses_.push_back("unix:" + specs[i].path);
    } else {
      std::string host = specs[i].hostport.substr(0, specs[i].hostport.rfind(':'));
      if (ports[i] == 0) return absl::UnavailableError(absl::StrCat("could not bind ", specs[i].hostport));
      grpc_addresses_.push_back(absl::StrCat(host, ":", ports[i]));
      core_->own_endpoints().Add(grpc_addresses_.back());
    }
  }
  for (auto& a : acceptors_) {
    a->Start(core_->loop());
    core_->own_endpoints().Add(a->listener().address);
  }
  std::string grpc_address = grpc_addresses_.empty()
                                 ? std::string(absl::StripPrefix(acceptors_.front()->listener().address, "tcp:"))
                                 : grpc_addresses_.front();

  std::string rest_address;
  if (!options_.rest_listen.empty()) {
    auto fe = MakeRestFrontend(*this);
    auto addr = fe->Start();
    if (!addr.ok()) return addr.status();
    rest_address = *addr;
    core_->own_endpoints().Add(rest_address);
    frontends_.push_back(std::move(fe));
  }

  std::string data_address;  // Raw data channel (issue 6).
  if (!options_.data_listen.empty()) {
    auto fe = MakeDataFrontend(*this);
    auto addr = fe->Start();
    if (!addr.ok()) return addr.status();
    data_address = *addr;
    core_->own_endpoints().Add(data_address);
    frontends_.push_back(std::move(fe));
  }

  // Metrics read at scrape time; Shutdown() unhooks them before the core goes.
  obs::metrics::RegisterAll();
  core::Core* core = core_.get();
  obs::metrics::SessionsOpen().set_callback([core] { return static_cast<double>(core->session_count()); });
  obs::metrics::PendingWaits().set_callback([core] { return static_cast<double>(core->loop().pending_waits()); });
  obs::metrics::OpenFds().set_callback([] { return static_cast<double>(CountOpenFds()); });
  obs::metrics::MaxFds().set_callback([] {
    struct rlimit rl {};
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(rl.rlim_cur);
  });
  probe_stop_ = std::make_shared<std::atomic<bool>>(false);
  ScheduleLagProbe(&core_->loop(), probe_stop_);

  std::string metrics_address;
  if (!options_.metrics_listen.empty()) {
    metrics_ = std::make_unique<ops::MetricsServer>();
    auto addr = metrics_->Start(options_.metrics_listen);
    if (!addr.ok()) return addr.status();
    metrics_address = *addr;
    core_->own_endpoints().Add(metrics_address);
  }
  ops::SetReady(true);
  if (options_.log_format == "json") obs::Log(obs::Level::kInfo, "started",
           {{"grpc", grpc_address}, {"rest", rest_address}, {"data", data_address}, {"metrics", metrics_address},
            {"epoch", core_->epoch()}, {"pid", std::to_string(getpid())}});

  // Every gRPC listener, for callers that opened more than one.
  std::string all;
  for (const auto& a : grpc_addresses_) absl::StrAppend(&all, all.empty() ? "\"" : ",\"", a, "\"");
  std::string line = absl::StrCat("{\"grpc\":\"", grpc_address, "\",\"grpc_all\":[", all, "],\"rest\":\"", rest_address,
                                  "\",\"data\":\"", data_address, "\",\"metrics\":\"", metrics_address,
                                  "\",\"epoch\":\"", core_->epoch(), "\",\"pid\":", getpid(), "}\n");
  // Text logs keep the ready line that scripts grep (tests/deploy); JSON
  // logs carry the same addresses in the "started" event.
  if (options_.log_format != "json") std::fprintf(stderr, "sockwired: serving %s", line.c_str());
  if (options_.ready_fd >= 0) {
    ssize_t ignored = write(options_.ready_fd, line.data(), line.size());
    (void)ignored;
    close(options_.ready_fd);
  }
  return absl::OkStatus();
}

void Daemon::Wait() {
  if (server_) server_->Wait();
}

void Daemon::Drain() {
  if (drained_.exchange(true)) return;
  ops::SetReady(false);
  if (server_ && server_->GetHealthCheckService() != nullptr) server_->GetHealthCheckService()->SetServingStatus(false);
  obs::Log(obs::Level::kInfo, "draining", {{"drain_period_ms", std::to_string(options_.drain_period.count())}});
  if (options_.drain_period.count() > 0) std::this_thread::sleep_for(options_.drain_period);
}

void Daemon::Shutdown() {
  if (shut_down_.exchange(true)) return;
  if (!drained_.exchange(true)) {
    ops::SetReady(false);
    if (server_ && server_->GetHealthCheckService() != nullptr) server_->GetHealthCheckService()->SetServingStatus(false);
  }
  for (auto& fe : frontends_) fe->Shutdown();
  for (auto& a : acceptors_) a->Shutdown();
  if (session_service_ != nullptr) NotifyHoldStreamsOfShutdown(session_service_);
  // Calls waiting on sockets end now, with the detail every error carries,
  // rather than being cut by the server's deadline below without one.
  if (core_) {
    core_->loop().FailAll(core::RequestError(absl::StatusCode::kUnavailable, "SHUTTING_DOWN",
                                             "the daemon is shutting down"));
  }
  if (server_) {
    // Pending calls are cancelled after the deadline; their waits end through
    // the event loop, which is still running.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  }
  frontends_.clear();
  acceptors_.clear();
  if (metrics_) metrics_->Shutdown();
  metrics_.reset();
  if (probe_stop_) probe_stop_->store(true);
  obs::metrics::SessionsOpen().set_callback(nullptr);
  obs::metrics::PendingWaits().set_callback(nullptr);
  bool had_core = core_ != nullptr;
  core_.reset();
  if (had_core) obs::Log(obs::Level::kInfo, "stopped", {});
  for (const auto& a : grpc_addresses_) {
    if (absl::StartsWith(a, "unix:")) unlink(a.substr(5).c_str());
  }
}

}  // namespace sockwire::server
