// sockwire: nc/socat-like command-line tool over a sockwired daemon. Parses
// the command line (CLI11) and runs one subcommand; each lives in its own file.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.h"

namespace {

using sockwire::cli::GlobalOptions;

constexpr char kMainFooter[] = R"TXT(
DESCRIPTION
  Every socket is opened by the daemon, in its network and under its policy;
  this tool only moves the bytes between it and your terminal, files or local
  ports. Run `sockwire COMMAND --help` for each command's page.

ENVIRONMENT
  SOCKWIRE_DAEMON   the daemon's address when --daemon is not given.

EXIT STATUS
  0 success; 1 a network, daemon or resolver error (printed as
  "sockwire: OP: ENAME (message)"); 2 a usage error.
)TXT";

constexpr char kConnectFooter[] = R"TXT(
DESCRIPTION
  The daemon connects to HOST PORT (a name is resolved in the daemon's
  network; PORT may be a service name). Standard input is sent to the
  connection and what arrives is written to standard output, as `nc HOST
  PORT` does. End of file on standard input shuts the connection down for
  writing (shutdown(SHUT_WR)); sockwire exits once the peer closes its side.

  -u  UDP: each read from standard input is sent as one datagram; received
      datagrams are written to standard output. Runs until interrupted.
  --unix PATH  connect to a unix socket (the daemon's policy must grant PATH).

EXAMPLES
  printf 'GET / HTTP/1.0\r\n\r\n' | sockwire connect example.com 80
  sockwire connect -u 127.0.0.1 53 < query.bin

ERRORS
  sockwire: connect: ECONNREFUSED (Connection refused)
  sockwire: connect: Name or service not known
)TXT";

constexpr char kListenFooter[] = R"TXT(
DESCRIPTION
  The daemon listens on HOST PORT (default: all addresses) and accepts one
  connection, which is piped to standard input and output as `nc -l` does.
  With PORT 0 the daemon picks a port, printed on standard error as
  "Listening on HOST PORT".

  -k  keep listening: accept further connections in turn after each ends;
      standard input goes to whichever connection is current.
  -u  UDP: the first datagram's sender becomes the peer (as nc -u -l).

EXAMPLES
  sockwire listen 0 > received.txt
  sockwire listen -k 127.0.0.1 8080 < /dev/null
)TXT";

constexpr char kSendFooter[] = R"TXT(
DESCRIPTION
  The daemon connects to HOST PORT and FILE ("-" for standard input) is sent
  over it; then the connection is shut down for writing, and sockwire waits
  for the receiver to close, so that exit status 0 means the peer took every
  byte. When standard error is a terminal a progress bar shows bytes, the
  percentage, the rate and the time left; otherwise nothing is drawn.

EXAMPLES
  sockwire send disk.img 10.0.0.7 9000
)TXT";

constexpr char kRecvFooter[] = R"TXT(
DESCRIPTION
  The daemon listens on HOST PORT (PORT 0: one is picked and printed on
  standard error) and accepts one connection; everything received up to end
  of file is written to standard output. On a terminal, standard error shows
  the bytes received and the rate.

EXAMPLES
  sockwire recv 9000 > disk.img
)TXT";

constexpr char kForwardFooter[] = R"TXT(
DESCRIPTION
  -L [LHOST:]LPORT:HOST:PORT
      Listens here on LHOST:LPORT (default 127.0.0.1); for each connection
      accepted the daemon dials HOST:PORT, and bytes flow both ways (ssh -L).
  -R [RHOST:]RPORT:HOST:PORT
      The daemon listens on RHOST:RPORT (default 127.0.0.1); each connection
      it accepts is connected from here to HOST:PORT (ssh -R).
  Both may be repeated. Connections are served concurrently, each on the
  fastest data path the daemon allows; half-closes are passed on. Port 0
  picks a port, printed on standard error. Runs until interrupted.

EXAMPLES
  sockwire forward -L 5432:db.internal:5432
  sockwire forward -R 0.0.0.0:8080:localhost:3000
)TXT";

constexpr char kResolveFooter[] = R"TXT(
DESCRIPTION
  getaddrinfo(NAME, SERVICE) answered by the daemon, in its network (its
  /etc/hosts and DNS). One line per result: ADDRESS [PORT] FAMILY TYPE
  [CANONNAME]. An unknown name prints the resolver's message and exits 1.

EXAMPLES
  sockwire resolve localhost http
)TXT";

constexpr char kHealthFooter[] = R"TXT(
DESCRIPTION
  Asks the daemon's gRPC health service; prints SERVING and exits 0 when it
  serves, exits 1 otherwise (NOT_SERVING while draining, or unreachable).
  Fit for a container probe: sockwire health --timeout 2.
)TXT";

constexpr char kLsFooter[] = R"TXT(
DESCRIPTION
  Lists the sockets of a session: handle, family, type, local and peer
  addresses, state. Without --session it is this command's own new session
  (empty); give the token of a session (Client::session()) to see its sockets.
)TXT";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sockwire - sockets through a sockwired daemon, as nc and socat do", "sockwire"};
  app.footer(kMainFooter);
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_option("--daemon", g.daemon,
                 "daemon address: unix:/path, tcp:HOST:PORT or HOST:PORT (default " +
                     sockwire::cli::DefaultDaemonAddress() + ")")
      ->envname("SOCKWIRE_DAEMON");
  app.add_option("--token-file", g.token_file, "file holding the daemon's bearer token");
  app.add_option("--tls-ca", g.tls_ca_file, "PEM file of the CA that signed the daemon's TLS certificate");
  app.add_option("--tls-cert", g.tls_cert_file, "PEM certificate chain of this client (mutual TLS)");
  app.add_option("--tls-key", g.tls_key_file, "PEM private key of --tls-cert");

  sockwire::cli::ConnectArgs ca;
  auto* connect = app.add_subcommand("connect", "connect to HOST PORT and pipe stdin/stdout (nc)");
  connect->footer(kConnectFooter);
  connect->add_option("args", ca.args, "HOST PORT")->expected(0, 2);
  connect->add_flag("-u,--udp", ca.udp, "UDP instead of TCP");
  connect->add_option("--unix", ca.unix_path, "connect to the unix socket PATH");

  sockwire::cli::ListenArgs la;
  auto* listen = app.add_subcommand("listen", "accept a connection on [HOST] PORT (nc -l)");
  listen->footer(kListenFooter);
  listen->add_option("args", la.args, "[HOST] PORT")->expected(1, 2)->required();
  listen->add_flag("-u,--udp", la.udp, "UDP");
  listen->add_flag("-k,--keep-open", la.keep, "accept connections in turn, forever");

  sockwire::cli::SendArgs sa;
  auto* send = app.add_subcommand("send", "send FILE to HOST PORT, with a progress bar");
  send->footer(kSendFooter);
  send->add_option("file", sa.file, "file to send, - for stdin")->required();
  send->add_option("host", sa.host, "destination host")->required();
  send->add_option("port", sa.port, "destination port")->required();

  sockwire::cli::RecvArgs ra;
  auto* recv = app.add_subcommand("recv", "receive one connection on [HOST] PORT to stdout");
  recv->footer(kRecvFooter);
  recv->add_option("args", ra.args, "[HOST] PORT")->expected(1, 2)->required();

  sockwire::cli::ForwardArgs fa;
  auto* forward = app.add_subcommand("forward", "forward ports through the daemon (ssh -L / -R)");
  forward->footer(kForwardFooter);
  forward->add_option("-L", fa.local, "[LHOST:]LPORT:HOST:PORT");
  forward->add_option("-R", fa.remote, "[RHOST:]RPORT:HOST:PORT");

  std::string name, service;
  auto* resolve = app.add_subcommand("resolve", "getaddrinfo in the daemon's network");
  resolve->footer(kResolveFooter);
  resolve->add_option("name", name, "host name")->required();
  resolve->add_option("service", service, "service name or port");

  double timeout_s = 5;
  auto* health = app.add_subcommand("health", "exit 0 when the daemon is serving");
  health->footer(kHealthFooter);
  health->add_option("--timeout", timeout_s, "seconds to wait (default 5)");

  auto* ls = app.add_subcommand("ls", "list a session's sockets");
  ls->footer(kLsFooter);
  ls->add_option("--session", g.session, "session token")->envname("SOCKWIRE_SESSION");

  for (auto* sub : app.get_subcommands({})) sub->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; any usage error exits 2, as nc's do.
    return app.exit(e) == 0 ? 0 : 2;
  }
  using namespace sockwire::cli;
  if (connect->parsed()) return RunConnect(g, ca);
  if (listen->parsed()) return RunListen(g, la);
  if (send->parsed()) return RunSend(g, sa);
  if (recv->parsed()) return RunRecv(g, ra);
  if (forward->parsed()) return RunForward(g, fa);
  if (resolve->parsed()) return RunResolve(g, name, service);
  if (health->parsed()) return RunHealth(g, timeout_s);
  if (ls->parsed()) return RunLs(g);
  return 2;
}
