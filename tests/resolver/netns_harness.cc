#include "netns_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "daemon_process.h"

namespace sockwire::testing {
namespace {

std::atomic<int> g_counter{0};

// Runs a command to completion (no shell); returns its exit status or -1.
int Run(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool HaveProgram(const std::string& name) {
  const char* path = getenv("PATH");
  std::string dirs = std::string(path != nullptr ? path : "") + ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string p = dirs.substr(start, end - start) + "/" + name;
    if (!p.empty() && access(p.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Reads one line from `fd` within `timeout`; "" on timeout or EOF.
std::string ReadLine(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  char buf[512];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return "";
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    line.append(buf, n);
    auto nl = line.find('\n');
    if (nl != std::string::npos) return line.substr(0, nl);
  }
}

std::string JsonField(const std::string& line, const std::string& key) {
  std::string needle = "\"" + key + "\":\"";
  auto pos = line.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  auto end = line.find('"', pos);
  return end == std::string::npos ? "" : line.substr(pos, end - pos);
}

std::string EncodeName(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - start));
    out.append(name, start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

}  // namespace

std::string Netns::SkipReason() {
  if (geteuid() != 0) return "needs root to create network namespaces (ip netns)";
  if (!HaveProgram("ip")) return "the ip command (iproute2) is not installed";
  std::string probe = "swr-probe-" + std::to_string(getpid()) + "-" +
                      std::to_string(g_counter.fetch_add(1));
  if (Run({"ip", "netns", "add", probe}) != 0) return "`ip netns add` does not work here";
  // `ip netns exec` also needs a private mount namespace (for /etc/netns).
  int exec_rc = Run({"ip", "netns", "exec", probe, "true"});
  Run({"ip", "netns", "del", probe});
  if (exec_rc != 0) return "`ip netns exec` does not work here";
  return "";
}

std::string Netns::DnsmasqSkipReason() {
  if (!HaveProgram("dnsmasq")) return "dnsmasq is not installed (Debian: dnsmasq-base)";
  return "";
}

Netns::Netns(const std::string& tag) {
  name_ = "swr-" + tag + "-" + std::to_string(getpid()) + "-" +
          std::to_string(g_counter.fetch_add(1));
  char tmpl[] = "/tmp/sockwire-resolver-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) temp_dir_ = tmpl;
  Run({"ip", "netns", "add", name_});
  Run({"ip", "-n", name_, "link", "set", "lo", "up"});
}

Netns::~Netns() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) Stop(*it);
  Run({"ip", "netns", "del", name_});
  std::error_code ec;
  std::filesystem::remove_all("/etc/netns/" + name_, ec);
  // /etc/netns itself goes too when no other namespace uses it (rmdir fails
  // on a non-empty dir; WriteEtc retries if a parallel test races with this).
  rmdir("/etc/netns");
  if (!temp_dir_.empty()) std::filesystem::remove_all(temp_dir_, ec);
}

void Netns::WriteEtc(const std::string& file, const std::string& content) {
  std::string dir = "/etc/netns/" + name_;
  // Retry: a parallel test may remove an empty /etc/netns between calls.
  for (int i = 0; i < 3; ++i) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::ofstream out(dir + "/" + file, std::ios::trunc);
    out << content;
    out.close();
    if (out) return;
  }
}

int Netns::Socket(int family, int type) {
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  int fd = -1;
  int saved = 0;
  if (orig >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
    fd = socket(family, type | SOCK_CLOEXEC, 0);
    saved = errno;
    setns(orig, CLONE_NEWNET);
  } else {
    saved = errno;
  }
  if (orig >= 0) close(orig);
  if (target >= 0) close(target);
  errno = saved;
  return fd;
}

pid_t Netns::Spawn(const std::vector<std::string>& argv, int ready_fd_child, int* ready_read,
                   bool new_uts) {
  int pipefd[2] = {-1, -1};
  if (ready_fd_child >= 0 && pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (new_uts && unshare(CLONE_NEWUTS) != 0) _exit(126);
    if (ready_fd_child >= 0) dup2(pipefd[1], ready_fd_child);
    std::vector<char*> args;
    for (auto& a : full) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    // `ip netns exec` execs the command in place, so `pid` becomes it.
    execvp(args[0], args.data());
    _exit(127);
  }
  if (ready_fd_child >= 0) {
    close(pipefd[1]);
    *ready_read = pipefd[0];
  }
  children_.push_back(pid);
  return pid;
}

void Netns::Stop(pid_t pid) {
  if (pid <= 0) return;
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != 0) return;  // Gone or not ours.
  kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (waitpid(pid, &status, WNOHANG) != 0) return;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

bool Netns::StartDnsmasq(const std::string& address, const std::vector<std::string>& options,
                         const std::string& probe_name, std::string* error) {
  std::vector<std::string> argv = {"dnsmasq",
                                   "--keep-in-foreground",
                                   "--conf-file=/dev/null",
                                   "--no-resolv",
                                   "--no-hosts",
                                   "--no-poll",
                                   "--bind-interfaces",
                                   "--listen-address=" + address,
                                   "--port=53",
                                   "--user=root",
                                   "--pid-file=",
                                   "--log-facility=/dev/null"};
  argv.insert(argv.end(), options.begin(), options.end());
  pid_t pid = Spawn(argv);
  if (pid < 0) {
    *error = "could not start dnsmasq";
    return false;
  }
  // Readiness: ask it until it answers (each wait is bounded by poll).
  int fd = Socket(AF_INET, SOCK_DGRAM);
  if (fd < 0) {
    *error = std::string("socket in namespace: ") + strerror(errno);
    return false;
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(53);
  inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      *error = "dnsmasq exited with status " + std::to_string(status);
      break;
    }
    std::string q = DnsQuery(probe_name, 1, static_cast<uint16_t>(0x5300 + i));
    sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) == 1) {
      char buf[512];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      ready = n >= 12;
    }
  }
  close(fd);
  if (!ready && error->empty()) *error = "dnsmasq did not answer within 10 s";
  return ready;
}

NetnsDaemon::NetnsDaemon(Netns& ns, std::vector<std::string> extra_args, bool new_uts)
    : ns_(ns) {
  std::vector<std::string> argv = {SockwiredPath(), "--listen=unix:" + ns.temp_dir() + "/d.sock",
                                   "--ready-fd=3", "--log-level=warning"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  int ready = -1;
  pid_ = ns.Spawn(argv, 3, &ready, new_uts);
  if (pid_ < 0) {
    error_ = "could not start sockwired";
    return;
  }
  std::string line = ReadLine(ready, std::chrono::seconds(20));
  close(ready);
  if (line.empty()) {
    error_ = "sockwired did not become ready in namespace " + ns.name();
    return;
  }
  target_ = JsonField(line, "grpc");
  if (target_.empty()) error_ = "no grpc address in ready line: " + line;
}

NetnsDaemon::~NetnsDaemon() { ns_.Stop(pid_); }

std::shared_ptr<grpc::Channel> NetnsDaemon::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
}

std::string DnsQuery(const std::string& name, int qtype, uint16_t id) {
  std::string q;
  q.push_back(static_cast<char>(id >> 8));
  q.push_back(static_cast<char>(id & 0xff));
  q += std::string("\x01\x00", 2);              // RD
  q += std::string("\x00\x01\x00\x00\x00\x00\x00\x00", 8);  // QD=1
  q += EncodeName(name);
  q.push_back(static_cast<char>(qtype >> 8));
  q.push_back(static_cast<char>(qtype & 0xff));
  q += std::string("\x00\x01", 2);  // IN
  return q;
}

std::string DnsAnswerA(const std::string& query, const std::string& ipv4) {
  if (query.size() < 12) return "";
  // Header + the first question only (drop any EDNS record the resolver added).
  size_t p = 12;
  while (p < query.size() && query[p] != 0) p += 1 + static_cast<unsigned char>(query[p]);
  p += 1 + 4;
  if (p > query.size()) return "";
  std::string r = query.substr(0, p);
  r[2] = static_cast<char>(0x81);  // QR, RD
  r[3] = static_cast<char>(0x80);  // RA, NOERROR
  r[4] = 0;
  r[5] = 1;                        // QDCOUNT 1
  r[6] = 0;
  r[7] = ipv4.empty() ? 0 : 1;     // ANCOUNT
  for (int i = 8; i < 12; ++i) r[i] = 0;
  if (!ipv4.empty()) {
    in_addr a{};
    inet_pton(AF_INET, ipv4.c_str(), &a);
    r += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04", 12);
    r.append(reinterpret_cast<const char*>(&a), 4);
  }
  return r;
}

}  // namespace sockwire::testing
