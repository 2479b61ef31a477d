#include "common.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iostream>
#include <stdexcept>

#include "sockwire/errors.h"

namespace sockwire::cli {

std::string DefaultDaemonAddress() {
  std::string dir;
  if (const char* xdg = getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    dir = std::string(xdg) + "/sockwire";
  } else if (geteuid() == 0) {
    dir = "/run/sockwire";
  } else {
    dir = "/tmp/sockwire-" + std::to_string(geteuid());
  }
  return "unix:" + dir + "/sockwired.sock";
}

std::string DaemonAddress(const GlobalOptions& g) {
  return g.daemon.empty() ? DefaultDaemonAddress() : g.daemon;
}

std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read token file " + path + ": " + strerror(errno));
  std::string tok;
  std::getline(in, tok);
  while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) {
    tok.pop_back();
  }
  if (tok.empty()) throw std::runtime_error("token file " + path + " is empty");
  return tok;
}

namespace {

std::string ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(std::string("cannot read ") + flag + " " + path + ": " + strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

sockwire::ClientOptions ClientOptionsFor(const GlobalOptions& g) {
  sockwire::ClientOptions opts;
  if (!g.token_file.empty()) opts.bearer_token = ReadToken(g.token_file);
  if (!g.tls_ca_file.empty()) opts.tls_root_pem = ReadFile(g.tls_ca_file, "--tls-ca");
  if (!g.tls_cert_file.empty()) opts.tls_cert_pem = ReadFile(g.tls_cert_file, "--tls-cert");
  if (!g.tls_key_file.empty()) opts.tls_key_pem = ReadFile(g.tls_key_file, "--tls-key");
  if (opts.tls_cert_pem.empty() != opts.tls_key_pem.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together");
  }
  opts.rpc_timeout = std::chrono::milliseconds(10000);
  return opts;
}

sockwire::Client Connect(const GlobalOptions& g) {
  std::string addr = DaemonAddress(g);
  try {
    return sockwire::Client(addr, ClientOptionsFor(g));
  } catch (const sockwire::error& e) {
    std::string detail = e.detail().empty() ? e.what() : e.detail();
    std::cerr << "sockwire: cannot reach sockwired at " << addr << ": " << detail << "\n";
  } catch (const std::exception& e) {
    std::cerr << "sockwire: cannot reach sockwired at " << addr << ": " << e.what() << "\n";
  }
  std::exit(1);
}

int ReportError(const std::string& op, const std::exception& e, const std::string& what) {
  std::string prefix = "sockwire: " + op + ": ";
  if (!what.empty()) prefix += what + ": ";
  if (const auto* gai = dynamic_cast<const sockwire::gaierror*>(&e)) {
    std::cerr << prefix << gai->code().message() << "\n";
    return 1;
  }
  if (const auto* he = dynamic_cast<const sockwire::herror*>(&e)) {
    std::cerr << prefix << he->code().message() << "\n";
    return 1;
  }
  if (const auto* se = dynamic_cast<const sockwire::error*>(&e)) {
    if (se->code().category() == std::generic_category()) {
      int err = se->errno_value();
      std::string name = se->info().errno_name;
      if (name.empty()) {
        const char* n = strerrorname_np(err);
        name = n != nullptr ? n : "E" + std::to_string(err);
      }
      std::cerr << prefix << name << " (" << strerror(err) << ")";
      // The daemon's own words when they add something (a policy rule...).
      const std::string& d = se->detail();
      if (!d.empty() && d != strerror(err) && d.find(strerror(err)) == std::string::npos) {
        std::cerr << ": " << d;
      }
      std::cerr << "\n";
      return 1;
    }
  }
  std::cerr << prefix << e.what() << "\n";
  return 1;
}

bool SplitHostPort(const std::string& s, std::string* host, std::string* port) {
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    *host = s.substr(1, close - 1);
    *port = s.substr(close + 2);
    return true;
  }
  auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  *port = s.substr(colon + 1);
  return true;
}

int ParsePort(const std::string& s) {
  if (s.empty() || s.size() > 5) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= 65535 ? v : -1;
}

bool WriteAll(int fd, const char* buf, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    buf += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

std::string HumanBytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  return buf;
}

}  // namespace sockwire::cli
