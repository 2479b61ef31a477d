// Socket activation (LISTEN_FDS) against a real sockwired: the test plays the
// service manager. It binds a listening socket, starts the daemon with that
// socket at fd 3 and LISTEN_FDS=1, LISTEN_PID=<the child's pid> (set in the
// child, between fork and exec, as systemd does), and no --listen; then runs
// the seed's echo through the daemon over the inherited socket.
// Params are designated initializers that leave the other fields at their
// defaults on purpose; GCC's -Wextra would flag each call.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "activation.h"
#include "daemon_process.h"
#include "sockwire/sockwire.h"

namespace {

// A listening unix socket at `path`.
int UnixListener(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || listen(fd, 16) != 0) {
    ADD_FAILURE() << "unix listener " << path << ": " << std::strerror(errno);
  }
  return fd;
}

int TcpListener(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    ADD_FAILURE() << "tcp listener: " << std::strerror(errno);
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

// Writes `n` in decimal at `out` (async-signal-safe, for the forked child).
void PutDecimal(char* out, long n) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  while (i > 0) *out++ = tmp[--i];
  *out = '\0';
}

// A sockwired started the way a service manager starts it.
class ActivatedDaemon {
 public:
  struct Params {
    int listen_fd = -1;           // Becomes fd 3 (or -1: no fd 3).
    bool pid_is_child = true;     // LISTEN_PID = the daemon's pid, else its parent's.
    std::string listen_fds = "1";
    std::string fdnames;          // LISTEN_FDNAMES, "" for none.
    std::vector<std::string> args;
  };

  explicit ActivatedDaemon(const Params& p) {
    int ready[2], err[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
    std::vector<std::string> args = {sockwire::testing::SockwiredPath(), "--ready-fd=4", "--log-level=warning"};
    for (const auto& a : p.args) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The environment is built before fork; only the pid digits are filled in
    // the child.
    std::vector<std::string> env = {"LISTEN_FDS=" + p.listen_fds, "PATH=/usr/bin:/bin"};
    if (!p.fdnames.empty()) env.push_back("LISTEN_FDNAMES=" + p.fdnames);
    std::string pid_var = "LISTEN_PID=" + std::string(24, '\0');
    std::string parent_pid = std::to_string(getpid());
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(pid_var.data());
    envp.push_back(nullptr);

    pid_ = fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (p.pid_is_child) {
        PutDecimal(pid_var.data() + 11, getpid());
      } else {
        std::memcpy(pid_var.data() + 11, parent_pid.c_str(), parent_pid.size() + 1);
      }
      // fd 4 first: the listener may itself sit at 4.
      int ready_w = fcntl(ready[1], F_DUPFD_CLOEXEC, 10);
      int lfd = p.listen_fd >= 0 ? fcntl(p.listen_fd, F_DUPFD_CLOEXEC, 10) : -1;
      dup2(ready_w, 4);
      if (lfd >= 0) {
        dup2(lfd, 3);  // dup2 clears FD_CLOEXEC on the new fd.
      } else {
        close(3);
      }
      dup2(err[1], 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(ready[1]);
    close(err[1]);
    err_ = err[0];
    char buf[512];
    for (;;) {
      ssize_t n = read(ready[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      ready_line_.append(buf, n);
      if (ready_line_.find('\n') != std::string::npos) break;
    }
    close(ready[0]);
  }

  ~ActivatedDaemon() {
    Stop();
    if (err_ >= 0) close(err_);
  }

  // The ready line, "" when the daemon exited before it was ready.
  const std::string& ready_line() const { return ready_line_; }
  pid_t pid() const { return pid_; }

  // SIGTERM, then the exit status.
  int Stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  // Waits for an exit without signalling it (for daemons that refuse to start).
  int Wait() {
    if (pid_ > 0) {
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return status_;
  }
  std::string Stderr() {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = read(err_, buf, sizeof buf)) > 0) all.append(buf, n);
    return all;
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  int status_ = -1;
  std::string ready_line_;
};

class ActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sockwire-activation-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

// The seed's echo (client and server both through the daemon) on `target`.
void EchoThrough(const std::string& target) {
  sockwire::Client client(target);
  sockwire::Socket server(client, AF_INET, SOCK_STREAM);
  server.bind({"127.0.0.1", 0});
  server.listen(1);
  int port = server.getsockname().port();
  sockwire::Socket s(client, AF_INET, SOCK_STREAM);
  s.connect({"127.0.0.1", port});
  auto [conn, addr] = server.accept();
  s.sendall("Hello, world");
  conn.sendall(conn.recv(1024));
  EXPECT_EQ(s.recv(1024), "Hello, world");
}

TEST_F(ActivationTest, ServesGrpcOnInheritedUnixSocket) {
  std::string path = dir_ + "/activated.sock";
  int lfd = UnixListener(path);
  ActivatedDaemon d({.listen_fd = lfd, .fdnames = "grpc"});
  close(lfd);  // The daemon has its own copy; connections still queue on it.
  ASSERT_NE(d.ready_line(), "") << d.Stderr();
  EXPECT_NE(d.ready_line().find("\"grpc\":\"unix:" + path + "\""), std::string::npos) << d.ready_line();
  EchoThrough("unix:" + path);
  EXPECT_EQ(d.Stop(), 0);
  // The socket file belongs to the service manager: the daemon leaves it.
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0);
}

TEST_F(ActivationTest, CallersCannotReachTheInheritedSocket) {
  // The inherited listener is one of the daemon's own sockets: a caller's
  // connect to it through the daemon would come from the daemon itself.
  // The policy allows AF_UNIX connects under the test's directory, so only
  // the own-endpoint rule stands between the caller and the socket.
  std::string path = dir_ + "/activated.sock";
  std::string policy = dir_ + "/policy.json";
  {
    std::ofstream(policy) << R"({"rules": [{"action": "allow", "ops": ["connect"], "paths": [")" << dir_
                          << R"(/"]}]})";
  }
  int lfd = UnixListener(path);
  ActivatedDaemon d({.listen_fd = lfd, .args = {"--policy-file=" + policy}});
  close(lfd);
  ASSERT_NE(d.ready_line(), "") << d.Stderr();
  sockwire::Client client("unix:" + path);
  // A unix socket of the test's own under the same directory is reachable.
  std::string other = dir_ + "/other.sock";
  int ofd = UnixListener(other);
  {
    sockwire::Socket ok(client, AF_UNIX, SOCK_STREAM);
    EXPECT_NO_THROW(ok.connect(other));
  }
  close(ofd);
  sockwire::Socket s(client, AF_UNIX, SOCK_STREAM);
  EXPECT_THROW(s.connect(path), sockwire::error);
}

TEST_F(ActivationTest, InheritedAndFlagListenersServeTogether) {
  std::string inherited = dir_ + "/inherited.sock";
  std::string flagged = dir_ + "/flag.sock";
  int lfd = UnixListener(inherited);
  ActivatedDaemon d({.listen_fd = lfd, .args = {"--listen=unix:" + flagged}});
  close(lfd);
  ASSERT_NE(d.ready_line(), "") << d.Stderr();
  EchoThrough("unix:" + inherited);
  EchoThrough("unix:" + flagged);
}

TEST_F(ActivationTest, ServesOnInheritedLoopbackTcpSocketWithInsecureFlag) {
  int port = 0;
  int lfd = TcpListener(&port);
  ActivatedDaemon d({.listen_fd = lfd, .args = {"--insecure-tcp"}});
  close(lfd);
  ASSERT_NE(d.ready_line(), "") << d.Stderr();
  EXPECT_NE(d.ready_line().find("\"grpc\":\"127.0.0.1:" + std::to_string(port) + "\""), std::string::npos);
  EchoThrough("127.0.0.1:" + std::to_string(port));
}

TEST_F(ActivationTest, InheritedTcpSocketWithoutTokenRefusesToStart) {
  int port = 0;
  int lfd = TcpListener(&port);
  ActivatedDaemon d({.listen_fd = lfd});
  close(lfd);
  EXPECT_EQ(d.ready_line(), "");
  int status = d.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_NE(d.Stderr().find("needs --token-file"), std::string::npos);
}

TEST_F(ActivationTest, FdsMeantForAnotherPidAreIgnored) {
  // LISTEN_PID names the parent: the daemon must not touch fd 3 and binds
  // its --listen as usual.
  std::string inherited = dir_ + "/not-mine.sock";
  std::string flagged = dir_ + "/flag.sock";
  int lfd = UnixListener(inherited);
  ActivatedDaemon d({.listen_fd = lfd, .pid_is_child = false, .args = {"--listen=unix:" + flagged}});
  ASSERT_NE(d.ready_line(), "") << d.Stderr();
  EXPECT_NE(d.ready_line().find("\"grpc\":\"unix:" + flagged + "\""), std::string::npos) << d.ready_line();
  EchoThrough("unix:" + flagged);
  close(lfd);
}

TEST_F(ActivationTest, MissingFdRefusesToStart) {
  ActivatedDaemon d({.listen_fd = -1});
  EXPECT_EQ(d.ready_line(), "");
  EXPECT_EQ(WEXITSTATUS(d.Wait()), 1);
  EXPECT_NE(d.Stderr().find("socket activation: fd 3"), std::string::npos);
}

TEST_F(ActivationTest, NonListeningSocketRefusesToStart) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ActivatedDaemon d({.listen_fd = fd});
  close(fd);
  EXPECT_EQ(d.ready_line(), "");
  EXPECT_EQ(WEXITSTATUS(d.Wait()), 1);
  EXPECT_NE(d.Stderr().find("is not listening"), std::string::npos);
}

TEST_F(ActivationTest, MalformedCountRefusesToStart) {
  int lfd = UnixListener(dir_ + "/s.sock");
  ActivatedDaemon d({.listen_fd = lfd, .listen_fds = "1x"});
  close(lfd);
  EXPECT_EQ(d.ready_line(), "");
  EXPECT_EQ(WEXITSTATUS(d.Wait()), 1);
  EXPECT_NE(d.Stderr().find("bad LISTEN_FDS"), std::string::npos);
}

TEST_F(ActivationTest, RestNamedFdRefusesToStart) {
  int lfd = UnixListener(dir_ + "/s.sock");
  ActivatedDaemon d({.listen_fd = lfd, .fdnames = "rest"});
  close(lfd);
  EXPECT_EQ(d.ready_line(), "");
  EXPECT_EQ(WEXITSTATUS(d.Wait()), 1);
  EXPECT_NE(d.Stderr().find("only gRPC listeners"), std::string::npos);
}

// The parser on its own, in-process.
TEST(ParseListenFds, NoVariablesIsNoFds) {
  auto r = sockwire::server::ParseListenFds(nullptr, nullptr, nullptr, getpid());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseListenFds, NamesMustMatchCount) {
  auto r = sockwire::server::ParseListenFds(std::to_string(getpid()).c_str(), "0", "a:b", getpid());
  EXPECT_FALSE(r.ok());
}

TEST(ParseListenFds, BadPidIsAnError) {
  auto r = sockwire::server::ParseListenFds("-1", "1", nullptr, getpid());
  EXPECT_FALSE(r.ok());
}

}  // namespace
