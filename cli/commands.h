// The subcommands of the sockwire tool; each returns the exit status.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "sockwire/address.h"

namespace sockwire::cli {

struct ConnectArgs {
  std::vector<std::string> args;  // HOST PORT
  bool udp = false;
  std::string unix_path;
};
int RunConnect(const GlobalOptions& g, const ConnectArgs& a);

struct ListenArgs {
  std::vector<std::string> args;  // [HOST] PORT
  bool udp = false;
  bool keep = false;
};
int RunListen(const GlobalOptions& g, const ListenArgs& a);

struct SendArgs {
  std::string file, host, port;
};
int RunSend(const GlobalOptions& g, const SendArgs& a);

struct RecvArgs {
  std::vector<std::string> args;  // [HOST] PORT
};
int RunRecv(const GlobalOptions& g, const RecvArgs& a);

struct ForwardArgs {
  std::vector<std::string> local;   // -L specs
  std::vector<std::string> remote;  // -R specs
};
int RunForward(const GlobalOptions& g, const ForwardArgs& a);

int RunResolve(const GlobalOptions& g, const std::string& name, const std::string& service);
int RunHealth(const GlobalOptions& g, double timeout_s);
int RunLs(const GlobalOptions& g);

// [HOST] PORT of listen/recv: host "" (any) when absent. false on bad input
// (after printing why).
bool ParseListenArgs(const std::string& cmd, const std::vector<std::string>& args,
                     std::string* host, int* port);
// Prints "Listening on HOST PORT" to stderr.
void PrintListening(const sockwire::Address& a);

}  // namespace sockwire::cli
