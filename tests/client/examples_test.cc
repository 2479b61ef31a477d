// Runs the programs in examples/ against a real daemon and checks what they
// print. Readiness comes from the server's first output line, not a sleep.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "daemon_process.h"

namespace {

// A child process with its stdout (and stderr) on a pipe.
class Child {
 public:
  Child(const std::string& path, const std::vector<std::string>& args, const std::string& target) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      setenv("SOCKWIRE_TARGET", target.c_str(), 1);
      std::vector<std::string> all = {path};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  // Reads one line (without '\n'); "" at EOF.
  std::string ReadLine() {
    std::string line;
    char c;
    while (::read(out_, &c, 1) == 1) {
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }
  std::string ReadAll() {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_, buf, sizeof buf)) > 0) all.append(buf, n);
    return all;
  }
  // Exit status; waits.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

TEST(Examples, EchoServerAndClientTalk) {
  sockwire::testing::DaemonProcess daemon;
  Child server(ECHO_SERVER_PATH, {"0"}, daemon.grpc_target());
  std::string listening = server.ReadLine();
  // "Listening on ('0.0.0.0', 43210)"
  ASSERT_EQ(listening.rfind("Listening on ('0.0.0.0', ", 0), 0u) << listening;
  std::string port = listening.substr(listening.rfind(' ') + 1);
  port.pop_back();

  Child client(ECHO_CLIENT_PATH, {"--target=" + daemon.grpc_target(), "127.0.0.1", port}, "");
  EXPECT_EQ(client.ReadAll(), "Received b'Hello, world'\n");
  EXPECT_EQ(client.Wait(), 0);

  std::string connected = server.ReadLine();
  EXPECT_EQ(connected.rfind("Connected by ('127.0.0.1', ", 0), 0u) << connected;
  EXPECT_EQ(server.Wait(), 0);
}

TEST(Examples, UdpExample) {
  sockwire::testing::DaemonProcess daemon;
  Child udp(UDP_EXAMPLE_PATH, {}, daemon.grpc_target());
  std::string out = udp.ReadAll();
  EXPECT_EQ(udp.Wait(), 0) << out;
  EXPECT_NE(out.find("Server got b'ping' from ('127.0.0.1', "), std::string::npos) << out;
  EXPECT_NE(out.find("Client got b'pong' from ('127.0.0.1', "), std::string::npos) << out;
}

TEST(Examples, SelectExample) {
  sockwire::testing::DaemonProcess daemon;
  Child sel(SELECT_EXAMPLE_PATH, {}, daemon.grpc_target());
  std::string out = sel.ReadAll();
  EXPECT_EQ(sel.Wait(), 0) << out;
  EXPECT_NE(out.find("Accepted ('127.0.0.1', "), std::string::npos) << out;
  EXPECT_NE(out.find("Echoed b'hello'"), std::string::npos) << out;
}

TEST(Examples, MissingTargetIsAUsageError) {
  unsetenv("SOCKWIRE_TARGET");
  Child c(ECHO_CLIENT_PATH, {}, "");
  // The child sets SOCKWIRE_TARGET="" which counts as unset.
  std::string out = c.ReadAll();
  EXPECT_EQ(c.Wait(), 2) << out;
  EXPECT_NE(out.find("usage:"), std::string::npos);
}

}  // namespace
