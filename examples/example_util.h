// Shared by the examples: where the daemon is, and Python's repr(bytes).
//
// Every example takes an optional first argument --target=TARGET (e.g.
// --target=unix:/run/sockwired.sock); without it, $SOCKWIRE_TARGET.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace examples {

struct Args {
  std::string target;
  std::vector<std::string> rest;  // positional arguments after the target
};

inline Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--target=", 0) == 0) {
      args.target = a.substr(9);
    } else {
      args.rest.push_back(a);
    }
  }
  if (args.target.empty()) {
    const char* env = std::getenv("SOCKWIRE_TARGET");
    if (env != nullptr) args.target = env;
  }
  if (args.target.empty()) {
    std::cerr << "usage: " << argv[0] << " [--target=unix:/path|host:port] ...\n"
              << "       (or set SOCKWIRE_TARGET)\n";
    std::exit(2);
  }
  return args;
}

// Python's repr() of bytes: b'Hello, world'.
inline std::string repr(const std::string& data) {
  std::string out = "b'";
  for (unsigned char c : data) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

}  // namespace examples
