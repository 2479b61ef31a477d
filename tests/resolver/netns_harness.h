// Test harness for the resolver: a private network namespace (ip netns) with
// its own /etc/resolv.conf and /etc/hosts (files in /etc/netns/NAME/, which
// `ip netns exec` bind-mounts), processes started inside it (dnsmasq,
// sockwired), and sockets the test itself opens inside it.
//
// Everything is removed in the destructor: child processes are stopped, the
// namespace is deleted, /etc/netns/NAME is removed. Needs root; call
// SkipReason() first and GTEST_SKIP with it when non-empty.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace sockwire::testing {

class Netns {
 public:
  // "" when namespaces can be used here; else why not (not root, no
  // `ip netns`).
  static std::string SkipReason();
  // "" when dnsmasq can be run; else why not.
  static std::string DnsmasqSkipReason();

  // Creates a uniquely named namespace ("swr-<tag>-<pid>-<n>") with lo up.
  explicit Netns(const std::string& tag);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  // A private temp dir (for Unix sockets); removed in the destructor.
  const std::string& temp_dir() const { return temp_dir_; }

  // Writes /etc/netns/NAME/<file> (e.g. "resolv.conf", "hosts"). Must come
  // before the processes that read it start.
  void WriteEtc(const std::string& file, const std::string& content);

  // A socket created inside the namespace (the calling thread switches in
  // and back). The caller owns the fd. -1 on failure (errno set).
  int Socket(int family, int type);

  // Starts `argv` inside the namespace via `ip netns exec`. When
  // `ready_fd_child` >= 0, the write end of a pipe becomes that fd in the
  // child and the read end is returned in *ready_read. `new_uts` gives the
  // child its own UTS namespace (so sethostname cannot touch the host).
  pid_t Spawn(const std::vector<std::string>& argv, int ready_fd_child = -1,
              int* ready_read = nullptr, bool new_uts = false);
  // SIGTERM, bounded wait, then SIGKILL. Safe to call twice.
  void Stop(pid_t pid);

  // Starts dnsmasq on `address`:53 with the given extra options and waits
  // (by querying it, not by sleeping) until it answers. Returns false (with
  // a message in *error) when it does not come up.
  bool StartDnsmasq(const std::string& address, const std::vector<std::string>& options,
                    const std::string& probe_name, std::string* error);

 private:
  std::string name_;
  std::string temp_dir_;
  std::vector<pid_t> children_;
};

// sockwired running inside a Netns, on a Unix socket in the namespace's temp
// dir (Unix sockets in the filesystem are reachable across namespaces).
class NetnsDaemon {
 public:
  NetnsDaemon(Netns& ns, std::vector<std::string> extra_args = {}, bool new_uts = false);
  ~NetnsDaemon();
  bool ok() const { return !target_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& target() const { return target_; }
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  Netns& ns_;
  pid_t pid_ = -1;
  std::string target_;
  std::string error_;
};

// A DNS query for `name` (qtype 1 = A, 28 = AAAA), and an answer to `query`
// carrying one A record (or none when `ipv4` is empty).
std::string DnsQuery(const std::string& name, int qtype, uint16_t id);
std::string DnsAnswerA(const std::string& query, const std::string& ipv4);

}  // namespace sockwire::testing
