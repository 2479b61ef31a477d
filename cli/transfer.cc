// send FILE HOST PORT and recv [HOST] PORT: one file over one connection,
// with a progress bar on a terminal.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <vector>

#include "commands.h"
#include "conduit.h"
#include "progress.h"
#include "sockwire/errors.h"
#include "sockwire/resolver.h"
#include "sockwire/socket.h"

namespace sockwire::cli {

Progress::Progress(std::optional<std::uint64_t> total, bool force)
    : total_(total), enabled_(force || isatty(2) == 1) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::add(std::uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  draw(false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(true);
  fputc('\n', stderr);
  fflush(stderr);
}

void Progress::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? done_ / secs : 0;
  std::string line = "\r" + HumanBytes(static_cast<double>(done_));
  if (total_) {
    double frac = *total_ == 0 ? 1.0 : static_cast<double>(done_) / static_cast<double>(*total_);
    if (frac > 1) frac = 1;
    constexpr int kWidth = 30;
    int fill = static_cast<int>(frac * kWidth);
    line += " / " + HumanBytes(static_cast<double>(*total_)) + " [" + std::string(fill, '#') +
            std::string(kWidth - fill, ' ') + "] ";
    char pct[16];
    snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
    line += pct;
  }
  line += "  " + HumanBytes(rate) + "/s";
  if (total_) {
    char eta[32];
    if (final) {
      snprintf(eta, sizeof eta, "  in %.1fs", secs);
    } else if (rate > 0) {
      long left = static_cast<long>((static_cast<double>(*total_ - std::min(done_, *total_))) / rate);
      snprintf(eta, sizeof eta, "  ETA %ld:%02ld", left / 60, left % 60);
    } else {
      snprintf(eta, sizeof eta, "  ETA --:--");
    }
    line += eta;
  }
  line += "\x1b[K";  // Clear the rest of the line.
  fputs(line.c_str(), stderr);
  fflush(stderr);
}

int RunSend(const GlobalOptions& g, const SendArgs& a) {
  signal(SIGPIPE, SIG_IGN);
  int fd = a.file == "-" ? 0 : ::open(a.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::cerr << "sockwire: send: " << a.file << ": " << strerror(errno) << "\n";
    return 1;
  }
  std::optional<std::uint64_t> total;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) total = static_cast<std::uint64_t>(st.st_size);
  sockwire::Client client = Connect(g);
  int port = ParsePort(a.port);
  std::unique_ptr<Conduit> c;
  try {
    if (port < 0) port = sockwire::getservbyname(client, a.port, "tcp");
    c = OpenConduit(sockwire::create_connection(client, sockwire::Address(a.host, port), std::nullopt));
  } catch (const std::exception& e) {
    return ReportError("connect", e);
  }
  Progress bar(total);
  try {
    PumpFdToConduit(fd, *c, [&](std::size_t n) { bar.add(n); });
    bar.finish();
    // Wait for the receiver to close: then it has every byte.
    std::vector<char> sink(65536);
    while (c->read(std::span<char>(sink.data(), sink.size())) > 0) {
    }
  } catch (const std::exception& e) {
    bar.finish();
    return ReportError("send", e);
  }
  if (fd != 0) ::close(fd);
  return 0;
}

int RunRecv(const GlobalOptions& g, const RecvArgs& a) {
  signal(SIGPIPE, SIG_IGN);
  std::string host;
  int port = 0;
  if (!ParseListenArgs("recv", a.args, &host, &port)) return 2;
  sockwire::Client client = Connect(g);
  std::unique_ptr<Conduit> c;
  try {
    sockwire::Socket ls(client, host.find(':') != std::string::npos ? AF_INET6 : AF_INET);
    ls.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    ls.bind(sockwire::Address(host, port));
    ls.listen(1);
    if (port == 0) PrintListening(ls.getsockname());
    c = OpenConduit(ls.accept().first);
  } catch (const std::exception& e) {
    return ReportError("listen", e);
  }
  Progress bar(std::nullopt);
  try {
    bool ok = true;
    PumpConduitToFd(*c, 1, &ok, [](void* p, std::size_t n) { static_cast<Progress*>(p)->add(n); },
                    &bar);
    bar.finish();
    if (!ok) {
      std::cerr << "sockwire: recv: write: " << strerror(errno) << "\n";
      return 1;
    }
    c->shutdown_write();  // Tells the sender everything arrived.
  } catch (const std::exception& e) {
    bar.finish();
    return ReportError("recv", e);
  }
  return 0;
}

}  // namespace sockwire::cli
