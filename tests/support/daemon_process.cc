#include "daemon_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sockwire/v1/session.grpc.pb.h"

#ifndef SOCKWIRED_PATH
#error "SOCKWIRED_PATH must be defined by the build"
#endif

namespace sockwire::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "DaemonProcess: %s\n", what.c_str());
  std::abort();
}

// Pulls "key":"value" out of the daemon's one-line JSON without a JSON library.
std::string JsonField(const std::string& line, const std::string& key) {
  std::string needle = "\"" + key + "\":\"";
  auto pos = line.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  auto end = line.find('"', pos);
  return end == std::string::npos ? "" : line.substr(pos, end - pos);
}

}  // namespace

std::string SockwiredPath() {
  const char* env = std::getenv("SOCKWIRED");
  return env != nullptr ? env : SOCKWIRED_PATH;
}

DaemonProcess::DaemonProcess(std::vector<std::string> extra_args, DaemonLaunch launch) {
  char tmpl[] = "/tmp/sockwire-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  temp_dir_ = tmpl;

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) Die("pipe failed");

  std::vector<std::string> args = {
      SockwiredPath(),
      "--listen=unix:" + temp_dir_ + "/sockwired.sock",
      "--ready-fd=3",
      "--log-level=warning",
  };
  // The daemon grants no AF_UNIX name by default; tests use their temp dir
  // and abstract names, so unless a test brings its own policy, grant those.
  bool has_policy = false;
  for (auto& a : extra_args) has_policy |= a.rfind("--policy-file=", 0) == 0;
  if (!has_policy) {
    std::string policy = temp_dir_ + "/test-policy.json";
    std::ofstream(policy) << R"({"rules": [{"action": "allow", "paths": [")" << temp_dir_ << R"(/", "@*"]}]})";
    args.push_back("--policy-file=" + policy);
  }
  for (auto& a : extra_args) args.push_back(a);

  pid_ = fork();
  if (pid_ < 0) Die("fork failed");
  if (pid_ == 0) {
    // A test process that dies without running destructors (a crash, a
    // timeout's kill, _Exit after a hang) must not leave its daemon behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);  // The parent is already gone.
    // The child: the ready pipe's write end becomes fd 3.
    dup2(ready[1], 3);
    if (launch.nofile_limit != 0) {
      rlimit rl{launch.nofile_limit, launch.nofile_limit};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(126);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(ready[1]);
  std::string line;
  char buf[512];
  for (;;) {
    ssize_t n = read(ready[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, n);
    if (line.find('\n') != std::string::npos) break;
  }
  close(ready[0]);
  if (line.find('\n') == std::string::npos) {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    Die("sockwired exited before it was ready (status " + std::to_string(status) + ")");
  }
  ready_line_ = line.substr(0, line.find('\n'));
  grpc_target_ = JsonField(ready_line_, "grpc");
  rest_target_ = JsonField(ready_line_, "rest");
  if (grpc_target_.empty()) Die("no grpc address in ready line: " + ready_line_);
}

DaemonProcess::~DaemonProcess() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(temp_dir_, ec);
}

int DaemonProcess::Stop() {
  if (pid_ <= 0) return 0;
  kill(pid_, SIGTERM);
  int status = 0;
  // Bounded wait: SIGKILL if shutdown takes longer than 10 s.
  for (int i = 0; i < 1000; ++i) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::shared_ptr<grpc::Channel> DaemonProcess::NewChannel() const {
  grpc::ChannelArguments args;
  // A distinct channel per call site: tests of ownership need separate
  // connections, not a shared subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(grpc_target_, grpc::InsecureChannelCredentials(), args);
}

int DaemonProcess::OpenFdCount() const {
  std::string dir = "/proc/" + std::to_string(pid_) + "/fd";
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

static long StatusField(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return -1;
}

int DaemonProcess::ThreadCount() const { return static_cast<int>(StatusField(pid_, "Threads")); }
long DaemonProcess::RssKib() const { return StatusField(pid_, "VmRSS"); }

double DaemonProcess::CpuSeconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces): utime is the 14th.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string DaemonProcess::data_target() const { return JsonField(ready_line_, "data"); }

std::string OpenSession(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = sockwire::v1::SessionService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  sockwire::v1::OpenSessionRequest req;
  sockwire::v1::OpenSessionResponse resp;
  grpc::Status s = stub->Open(&ctx, req, &resp);
  if (!s.ok()) Die("OpenSession failed: " + s.error_message());
  return resp.session();
}

std::unique_ptr<grpc::ClientContext> SessionContext(const std::string& session, int deadline_ms) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("sockwire-session", session);
  if (deadline_ms > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
  return ctx;
}

}  // namespace sockwire::testing
