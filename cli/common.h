// Shared pieces of the sockwire command-line tool: global options, the
// daemon connection, error reporting in nc's style, and host/port parsing.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "sockwire/client.h"

namespace sockwire::cli {

struct GlobalOptions {
  std::string daemon;      // gRPC target; empty = DefaultDaemonAddress()
  std::string token_file;  // bearer token file (daemon --token-file)
  // TLS to a daemon's --tls-cert listener: its CA, and for mutual TLS this
  // client's certificate chain and key (PEM files).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string session;     // ls: an existing session token
};

// The daemon's default listener, by the daemon's own rule
// (server/daemon.cc DefaultListenAddress): $XDG_RUNTIME_DIR/sockwire, else
// /run/sockwire for root, else /tmp/sockwire-UID; socket sockwired.sock.
std::string DefaultDaemonAddress();
// --daemon, else $SOCKWIRE_DAEMON (CLI11 fills it), else the default.
std::string DaemonAddress(const GlobalOptions& g);
// The client options the global flags ask for (token, TLS files read).
// Throws std::runtime_error naming the file or flag that is wrong.
sockwire::ClientOptions ClientOptionsFor(const GlobalOptions& g);
// The token file's first line, trailing blanks trimmed (as the daemon reads
// it). Throws std::runtime_error when unreadable or empty.
std::string ReadToken(const std::string& path);

// Opens the session; on failure prints "sockwire: cannot reach sockwired at
// ADDR: why" and exits 1.
sockwire::Client Connect(const GlobalOptions& g);

// Prints the error as nc users expect and returns the exit status (1):
//   sockwire: connect: ECONNREFUSED (Connection refused)
//   sockwire: resolve: nosuch.invalid: Name or service not known (EAI_NONAME)
int ReportError(const std::string& op, const std::exception& e, const std::string& what = {});

// "host:port", "[v6]:port" -> parts; the host may be empty. false if bad.
bool SplitHostPort(const std::string& s, std::string* host, std::string* port);
// A port number 0..65535, or -1.
int ParsePort(const std::string& s);

// Writes all of buf to fd (retrying EINTR); false on error (errno set).
bool WriteAll(int fd, const char* buf, std::size_t n);

// "12.3 MiB".
std::string HumanBytes(double n);

}  // namespace sockwire::cli
