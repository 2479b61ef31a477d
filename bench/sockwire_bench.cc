// sockwire_bench: moves bytes to one target peer through every path (direct
// kernel sockets, SOCKS5 proxies, a socat relay, a bare gRPC stream, and
// sockwired's stream / unary / raw channel / descriptor-passing paths),
// measures bulk throughput and 64-byte echo round trips, small-RPC rates and
// the daemon's memory and threads at scale, and prints one table.
//
// Every figure is the median of --reps repetitions. --quick shrinks the sizes
// (CI); in every mode the exit status says whether every path moved every
// byte intact (checksums), never whether a timing was good.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "bench_util.h"
#include "sockwire_paths.h"

#ifndef SOCKWIRED_PATH
#define SOCKWIRED_PATH "sockwired"
#endif

namespace sockwire::bench {
namespace {

struct Config {
  bool quick = false;
  int reps = 5;
  size_t bulk_bytes = size_t{1} << 30;
  size_t chunk = 256 << 10;
  int echo_iters = 2000;
  double rate_secs = 1.0;
  std::vector<int> scale_handles = {10000, 100000};
  int pending = 10000;
  bool scale = true;
  std::string sockwired = SOCKWIRED_PATH;
  std::string only;  // Comma-separated path names to run (debugging).
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Socks5Connect(int proxy_port, int target_port) {
  int fd = ConnectTcp(proxy_port);
  auto fail = [fd](const std::string& why) {
    ::close(fd);
    Die("socks5: " + why);
  };
  const unsigned char hello[] = {5, 1, 0};
  if (::send(fd, hello, 3, MSG_NOSIGNAL) != 3) fail("send hello");
  unsigned char r[10];
  if (::recv(fd, r, 2, MSG_WAITALL) != 2 || r[0] != 5 || r[1] != 0) fail("no-auth method refused");
  unsigned char req[10] = {5, 1, 0, 1, 127, 0, 0, 1, static_cast<unsigned char>(target_port >> 8),
                           static_cast<unsigned char>(target_port & 255)};
  if (::send(fd, req, 10, MSG_NOSIGNAL) != 10) fail("send connect");
  if (::recv(fd, r, 4, MSG_WAITALL) != 4 || r[1] != 0) fail("connect refused (reply " + std::to_string(r[1]) + ")");
  size_t rest = r[3] == 1 ? 6 : r[3] == 4 ? 18 : 0;
  unsigned char skip[32];
  if (rest == 0 || ::recv(fd, skip, rest, MSG_WAITALL) != static_cast<ssize_t>(rest)) fail("bad reply address");
  return fd;
}

struct PathDef {
  std::string name;
  std::function<std::unique_ptr<Conn>()> connect;
  std::string skip;  // Why it is not measured; empty when it is.
  bool third_party = false;
};

struct PathResult {
  std::vector<double> mibs, p50, p99;
  std::string error;
};

// Bulk: 'L' and the length, then the bytes in chunk-sized writes; the peer's
// checksum must match. Returns MiB/s (until the peer's answer is back).
double Bulk(Conn& c, const Config& cfg, const std::string& data) {
  Sum sum;
  char head[9] = {'L'};
  uint64_t len = cfg.bulk_bytes;
  memcpy(head + 1, &len, 8);
  c.Write(head, sizeof head);
  auto t0 = Clock::now();
  size_t sent = 0, i = 0;
  size_t span = data.size() - cfg.chunk;
  while (sent < cfg.bulk_bytes) {
    size_t k = std::min(cfg.chunk, cfg.bulk_bytes - sent);
    const char* p = data.data() + (i++ * 4099) % span;
    c.Write(p, k);
    sum.Add(p, k);
    sent += k;
  }
  uint64_t got[3], want[3];
  c.ReadExactly(reinterpret_cast<char*>(got), sizeof got);
  double secs = SecondsSince(t0);
  sum.Final(want);
  if (memcmp(got, want, sizeof got) != 0) {
    Die("bulk checksum mismatch: peer counted " + std::to_string(got[0]) + " bytes of " + std::to_string(want[0]));
  }
  return static_cast<double>(cfg.bulk_bytes) / (1 << 20) / secs;
}

// Echo: 'E', then 64-byte round trips; every echo must equal what was sent.
void Echo(Conn& c, const Config& cfg, std::mt19937_64& rng, double* p50, double* p99) {
  c.Write("E", 1);
  std::vector<double> lat;
  char out[64], in[64];
  int warm = std::max(10, cfg.echo_iters / 20);
  for (int i = 0; i < warm + cfg.echo_iters; ++i) {
    for (int j = 0; j < 64; j += 8) {
      uint64_t v = rng();
      memcpy(out + j, &v, 8);
    }
    auto t0 = Clock::now();
    c.Write(out, 64);
    c.ReadExactly(in, 64);
    double us = SecondsSince(t0) * 1e6;
    if (memcmp(in, out, 64) != 0) Die("echo mismatch");
    if (i >= warm) lat.push_back(us);
  }
  std::sort(lat.begin(), lat.end());
  *p50 = lat[lat.size() / 2];
  *p99 = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
}

// Starts sockwired; returns its gRPC and data addresses from the ready line.
struct Daemon {
  Child child;
  std::string grpc, data, dir;
};

std::unique_ptr<Daemon> StartSockwired(const Config& cfg, const std::string& dir) {
  auto d = std::make_unique<Daemon>();
  d->dir = dir;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) DieErrno("pipe");
  std::vector<std::string> argv = {cfg.sockwired,
                                   "--listen=unix:" + dir + "/grpc.sock",
                                   "--data-listen=unix:" + dir + "/data.sock",
                                   "--allow-fd-passing",
                                   "--log-level=warning",
                                   "--session-lease=10m",
                                   "--max-handles-per-session=1000000",
                                   "--ready-fd=" + std::to_string(p[1])};
  d->child = Child(argv, p[1], false);
  ::close(p[1]);
  std::string line;
  char buf[512];
  for (;;) {
    pollfd pf{p[0], POLLIN, 0};
    if (::poll(&pf, 1, 30000) <= 0) break;
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(p[0]);
  auto field = [&](const std::string& key) {
    size_t at = line.find("\"" + key + "\":\"");
    if (at == std::string::npos) return std::string();
    at += key.size() + 4;
    return line.substr(at, line.find('"', at) - at);
  };
  d->grpc = field("grpc");
  d->data = field("data");
  if (d->grpc.empty()) Die("sockwired did not start (ready line: \"" + line + "\")");
  return d;
}

std::string Fmt(double v, int prec = 1) {
  char b[64];
  snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string Ratio(double a, double b) { return (a > 0 && b > 0) ? Fmt(a / b, 2) + "x" : "-"; }

// Small-RPC rate: `callers` threads each run `op` for cfg.rate_secs.
double Rate(const Config& cfg, int callers, const std::function<void(int)>& op) {
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  std::mutex mu;
  std::string error;
  std::vector<std::thread> ts;
  for (int i = 0; i < callers; ++i) {
    ts.emplace_back([&, i] {
      long n = 0;
      try {
        while (!stop.load(std::memory_order_relaxed)) {
          op(i);
          ++n;
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(mu);
        error = e.what();
        stop = true;
      }
      total += n;
    });
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.rate_secs));
  stop = true;
  for (auto& t : ts) t.join();
  if (!error.empty()) Die(error);
  return static_cast<double>(total.load()) / SecondsSince(t0);
}

struct ScaleRow {
  std::string what;
  long count;
  long rss_kib;
  int threads;
  double bytes_each;
};

// Opens `n` handles (Create) with a few parallel callers.
void CreateHandles(SwClient& c, int n) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::string err;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      while (next.fetch_add(1) < n && !failed) {
        v1::CreateRequest q;
        q.set_family(v1::FAMILY_INET);
        q.set_type(v1::SOCKET_TYPE_STREAM);
        v1::SocketInfo info;
        auto ctx = c.Ctx();
        auto st = c.sockets->Create(ctx.get(), q, &info);
        if (!st.ok()) {
          std::lock_guard<std::mutex> l(mu);
          err = st.error_message();
          failed = true;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  if (failed) Die("Create: " + err);
}

std::vector<ScaleRow> MeasureScale(const Config& cfg, const std::string& dir) {
  std::vector<ScaleRow> rows;
  {
    auto d = StartSockwired(cfg, dir + "/scale1");
    SwClient c(d->grpc);
    CreateHandles(c, 10);  // Warm up the server's threads and allocator.
    long base = RssKib(d->child.pid());
    rows.push_back({"idle daemon (1 session)", 0, base, Threads(d->child.pid()), 0});
    int have = 10;
    // Each handle is a descriptor in the daemon: cap at its RLIMIT_NOFILE
    // (a container without CAP_SYS_RESOURCE cannot raise it).
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    int cap = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 24)) - 1000;
    for (int n : cfg.scale_handles) {
      if (n > cap) {
        rows.push_back({"capped by RLIMIT_NOFILE " + std::to_string(rl.rlim_cur) + "; wanted " + std::to_string(n),
                        cap, 0, 0, 0});
        n = cap;
        if (n <= have) break;
      }
      CreateHandles(c, n - have);
      have = n;
      long rss = RssKib(d->child.pid());
      rows.push_back({"open idle handles", n, rss, Threads(d->child.pid()), (rss - base) * 1024.0 / n});
    }
  }
  {
    auto d = StartSockwired(cfg, dir + "/scale2");
    SwClient c(d->grpc);
    int pairs = cfg.pending / 2;
    std::vector<std::string> handles;
    std::string pair_error;
    std::mutex mu;
    std::atomic<int> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t) {
      ts.emplace_back([&] {
        while (next.fetch_add(1) < pairs) {
          v1::CreatePairRequest q;
          v1::CreatePairResponse r;
          auto ctx = c.Ctx();
          auto st = c.sockets->CreatePair(ctx.get(), q, &r);
          std::lock_guard<std::mutex> l(mu);
          if (!st.ok()) {
            pair_error = "CreatePair: " + st.error_message();
            next = pairs;
            continue;
          }
          handles.push_back(r.first().handle());
          handles.push_back(r.second().handle());
        }
      });
    }
    for (auto& t : ts) t.join();
    if (!pair_error.empty()) Die(pair_error);
    long base = RssKib(d->child.pid());
    int base_threads = Threads(d->child.pid());
    rows.push_back({"socketpair handles, no calls", static_cast<long>(handles.size()), base, base_threads, 0});
    struct Call {
      std::unique_ptr<grpc::ClientContext> ctx;
      v1::RecvRequest q;
      v1::RecvResponse r;
    };
    std::vector<Call> calls(handles.size());
    std::atomic<int> done{0};
    for (size_t i = 0; i < handles.size(); ++i) {
      calls[i].ctx = c.Ctx(600);
      calls[i].q.set_handle(handles[i]);
      calls[i].q.set_bufsize(64);
      c.sockets->async()->Recv(calls[i].ctx.get(), &calls[i].q, &calls[i].r, [&done](grpc::Status) { ++done; });
    }
    // The calls are pending once the daemon's memory stops growing.
    long prev = -1, rss = RssKib(d->child.pid());
    for (int i = 0; i < 100 && rss != prev; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      prev = rss;
      rss = RssKib(d->child.pid());
    }
    int threads = Threads(d->child.pid());
    rows.push_back({"+ pending blocked recvs", static_cast<long>(handles.size()), rss, threads,
                    (rss - base) * 1024.0 / static_cast<double>(handles.size())});
    if (done.load() != 0) Die("pending recv completed early: " + std::to_string(done.load()));
    for (auto& call : calls) call.ctx->TryCancel();
    for (int i = 0; i < 1000 && done.load() < static_cast<int>(calls.size()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (done.load() != static_cast<int>(calls.size())) Die("cancelled recvs did not all complete");
  }
  return rows;
}

int Run(const Config& cfg) {
  // 100,000 handles need as many descriptors in the daemon (inherited).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = 1 << 20;
  rl.rlim_cur = want;
  rl.rlim_max = std::max(rl.rlim_max, want);
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  char tmpl[] = "/tmp/sockwire-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  mkdir((dir + "/scale1").c_str(), 0700);
  mkdir((dir + "/scale2").c_str(), 0700);
  Target target;

  // Peers.
  std::map<std::string, Child> peers;
  std::map<std::string, int> ports;
  std::map<std::string, std::string> missing;
  if (std::string danted = FindProgram("danted"); !danted.empty()) {
    int port = FreePort();
    std::string conf = dir + "/danted.conf";
    std::ofstream(conf) << "logoutput: /dev/null\n"
                        << "internal: 127.0.0.1 port = " << port << "\n"
                        << "external: 127.0.0.1\n"
                        << "clientmethod: none\nsocksmethod: none\n"
                        << "user.privileged: root\nuser.unprivileged: nobody\n"
                        << "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                        << "socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }\n";
    peers["dante"] = Child({danted, "-f", conf, "-p", dir + "/danted.pid"});
    if (WaitForPort(port, 10)) {
      ports["dante"] = port;
    } else {
      missing["dante"] = "danted did not start";
    }
  } else {
    missing["dante"] = "danted not installed (apt-get install dante-server)";
  }
  if (std::string ms = FindProgram("microsocks"); !ms.empty()) {
    int port = FreePort();
    peers["microsocks"] = Child({ms, "-i", "127.0.0.1", "-p", std::to_string(port)});
    if (WaitForPort(port, 10)) {
      ports["microsocks"] = port;
    } else {
      missing["microsocks"] = "microsocks did not start";
    }
  } else {
    missing["microsocks"] = "microsocks not installed (apt-get install microsocks)";
  }
  if (std::string socat = FindProgram("socat"); !socat.empty()) {
    int port = FreePort();
    peers["socat"] = Child({socat, "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork,nodelay",
                            "TCP:127.0.0.1:" + std::to_string(target.port()) + ",nodelay"});
    if (WaitForPort(port, 10)) {
      ports["socat"] = port;
    } else {
      missing["socat"] = "socat did not start";
    }
  } else {
    missing["socat"] = "socat not installed (apt-get install socat)";
  }
  // The bare gRPC ceiling, in its own process like sockwired.
  std::string bare_addr = "unix:" + dir + "/bare.sock";
  Child bare({"/proc/self/exe", "--serve-bare=" + bare_addr});
  auto bare_channel = grpc::CreateChannel(bare_addr, grpc::InsecureChannelCredentials());
  if (!bare_channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
    Die("bare gRPC server did not start");
  }
  auto bare_stub = v1::StreamService::NewStub(bare_channel);

  auto daemon = StartSockwired(cfg, dir);
  SwClient sw(daemon->grpc);
  int tport = target.port();

  std::vector<PathDef> paths;
  paths.push_back({"direct kernel TCP", [&] { return std::make_unique<FdConn>(ConnectTcp(tport)); }, ""});
  for (const char* s : {"dante", "microsocks"}) {
    std::string name = s;
    paths.push_back({name == "dante" ? "Dante SOCKS5" : "microsocks SOCKS5",
                     [&, name] { return std::make_unique<FdConn>(Socks5Connect(ports[name], tport)); },
                     missing.count(name) ? missing[name] : "", true});
  }
  paths.push_back({"socat relay", [&] { return std::make_unique<FdConn>(ConnectTcp(ports["socat"])); },
                   missing.count("socat") ? missing["socat"] : "", true});
  paths.push_back({"bare gRPC stream", [&] { return std::make_unique<BareStreamConn>(bare_stub.get()); }, ""});
  // sockwired's bulk paths through the client library, as a program uses them.
  sockwire::Client lib(daemon->grpc);
  auto through = [&](ClientPath path) {
    return [&, path] { return OpenClientPath(DialSocket(lib, tport), path); };
  };
  paths.push_back({"sockwire stream", through(ClientPath::kStream), ""});
  paths.push_back({"sockwire unary send/recv", [&]() -> std::unique_ptr<Conn> {
                     return std::make_unique<UnaryConn>(&sw, sw.Dial(tport));
                   },
                   ""});
  paths.push_back({"sockwire raw channel", through(ClientPath::kRawChannel), ""});
  paths.push_back({"sockwire fd passing", through(ClientPath::kFdPassing), ""});

  std::string data(4 << 20, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t v = rng();
    memcpy(&data[i], &v, 8);
  }

  bool all_ok = true;
  std::vector<PathResult> results(paths.size());
  for (int rep = 0; rep < cfg.reps; ++rep) {
    for (size_t i = 0; i < paths.size(); ++i) {
      auto& p = paths[i];
      auto& r = results[i];
      if (!p.skip.empty() || !r.error.empty()) continue;
      if (!cfg.only.empty() && cfg.only.find(p.name) == std::string::npos) {
        p.skip = "not selected";
        continue;
      }
      try {
        {
          auto c = p.connect();
          r.mibs.push_back(Bulk(*c, cfg, data));
        }
        {
          auto c = p.connect();
          double p50, p99;
          Echo(*c, cfg, rng, &p50, &p99);
          r.p50.push_back(p50);
          r.p99.push_back(p99);
        }
      } catch (const std::exception& e) {
        r.error = e.what();
        // A third-party peer that misbehaves (e.g. danted refusing to run
        // unprivileged in CI) is reported, not counted against sockwire.
        if (!p.third_party) all_ok = false;
      }
      std::fprintf(stderr, "  rep %d %-26s %s\n", rep + 1, p.name.c_str(),
                   r.error.empty() ? (Fmt(r.mibs.back()) + " MiB/s, p50 " + Fmt(r.p50.back()) + " us").c_str()
                                   : ("FAILED: " + r.error).c_str());
    }
  }

  // RPC rates.
  std::string gh = sw.Dial(tport);
  struct RateRow {
    std::string name;
    double r1 = 0, r16 = 0;
    std::string error;
  };
  std::vector<RateRow> rates;
  std::vector<std::string> sink_handles;
  for (int i = 0; i < 16; ++i) {
    std::string h = sw.Dial(tport);
    sink_handles.push_back(h);
    v1::SendRequest q;
    q.set_handle(h);
    q.set_data("S");
    v1::SendResponse resp;
    auto ctx = sw.Ctx();
    sw.sockets->Send(ctx.get(), q, &resp);
  }
  std::string payload(64, 'x');
  std::vector<std::pair<std::string, std::function<void(int)>>> ops = {
      {"bare gRPC unary echo 64 B",
       [&](int) {
         v1::DataChannelRequest q;
         q.set_handle(payload);
         v1::DataChannelResponse r;
         // The same call options as the sockwire calls below (sw.Ctx()): a
         // deadline costs a timer on both ends, so both sides pay it.
         grpc::ClientContext ctx;
         ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
         auto st = bare_stub->OpenDataChannel(&ctx, q, &r);
         if (!st.ok() || r.token() != payload) Die("bare unary echo failed");
       }},
      {"sockwire getsockname",
       [&](int) {
         v1::HandleRequest q;
         q.set_handle(gh);
         v1::Address a;
         auto ctx = sw.Ctx();
         auto st = sw.sockets->GetSockName(ctx.get(), q, &a);
         if (!st.ok()) Die("GetSockName: " + st.error_message());
       }},
      {"sockwire send 64 B",
       [&](int i) {
         v1::SendRequest q;
         q.set_handle(sink_handles[i]);
         q.set_data(payload);
         v1::SendResponse r;
         auto ctx = sw.Ctx();
         auto st = sw.sockets->Send(ctx.get(), q, &r);
         if (!st.ok()) Die("Send: " + st.error_message());
       }},
  };
  // Repetitions interleave the operations, so a change in the machine's load
  // during the run hits the peer and sockwire alike.
  std::vector<std::vector<double>> r1(ops.size()), r16(ops.size());
  for (auto& [name, op] : ops) rates.push_back(RateRow{name, 0, 0, {}});
  for (int rep = 0; rep < cfg.reps; ++rep) {
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!rates[i].error.empty()) continue;
      try {
        r1[i].push_back(Rate(cfg, 1, ops[i].second));
        r16[i].push_back(Rate(cfg, 16, ops[i].second));
      } catch (const std::exception& e) {
        rates[i].error = e.what();
        all_ok = false;
      }
    }
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    rates[i].r1 = Median(r1[i]);
    rates[i].r16 = Median(r16[i]);
  }
  for (auto& h : sink_handles) sw.Close(h);

  std::vector<ScaleRow> scale;
  std::string scale_error;
  if (cfg.scale) {
    try {
      scale = MeasureScale(cfg, dir);
    } catch (const std::exception& e) {
      scale_error = e.what();
      all_ok = false;
    }
  }

  // ---- The table ----
  auto med = [](const std::vector<double>& v) { return Median(v); };
  std::map<std::string, size_t> idx;
  for (size_t i = 0; i < paths.size(); ++i) idx[paths[i].name] = i;
  const std::vector<std::pair<std::string, std::string>> refs = {
      {"direct", "direct kernel TCP"}, {"dante", "Dante SOCKS5"}, {"microsocks", "microsocks SOCKS5"},
      {"socat", "socat relay"},        {"grpc", "bare gRPC stream"}};
  auto ok = [&](const std::string& n) {
    auto i = idx[n];
    return paths[i].skip.empty() && results[i].error.empty() && !results[i].mibs.empty();
  };
  std::printf("\nsockwire benchmark (%s): %d reps, medians; bulk %zu MiB in %zu KiB writes; echo %d x 64 B round trips\n",
              cfg.quick ? "quick" : "full", cfg.reps, cfg.bulk_bytes >> 20, cfg.chunk >> 10, cfg.echo_iters);
  std::printf("%-26s %9s", "PATH", "MiB/s");
  for (auto& [k, n] : refs) std::printf(" %10s", ("/" + k).c_str());
  std::printf(" %8s %8s", "p50 us", "p99 us");
  for (auto& [k, n] : refs) std::printf(" %10s", ("p50/" + k).c_str());
  std::printf("  %s\n", "bytes");
  for (size_t i = 0; i < paths.size(); ++i) {
    auto& p = paths[i];
    auto& r = results[i];
    std::printf("%-26s", p.name.c_str());
    if (!p.skip.empty()) {
      std::printf(" skipped: %s\n", p.skip.c_str());
      continue;
    }
    if (!r.error.empty()) {
      std::printf(" FAILED: %s\n", r.error.c_str());
      continue;
    }
    double m = med(r.mibs), l = med(r.p50);
    std::printf(" %9s", Fmt(m).c_str());
    for (auto& [k, n] : refs) std::printf(" %10s", ok(n) ? Ratio(m, med(results[idx[n]].mibs)).c_str() : "-");
    std::printf(" %8s %8s", Fmt(l).c_str(), Fmt(med(r.p99)).c_str());
    for (auto& [k, n] : refs) std::printf(" %10s", ok(n) ? Ratio(l, med(results[idx[n]].p50)).c_str() : "-");
    std::printf("  intact\n");
  }
  std::printf("%-26s %12s %10s %12s %10s\n", "RPC RATE (ops/s)", "1 caller", "/bare", "16 callers", "/bare");
  for (auto& row : rates) {
    if (!row.error.empty()) {
      std::printf("%-26s FAILED: %s\n", row.name.c_str(), row.error.c_str());
      continue;
    }
    std::printf("%-26s %12s %10s %12s %10s\n", row.name.c_str(), Fmt(row.r1, 0).c_str(),
                Ratio(row.r1, rates[0].r1).c_str(), Fmt(row.r16, 0).c_str(), Ratio(row.r16, rates[0].r16).c_str());
  }
  std::printf("%-32s %8s %10s %8s %14s\n", "SCALE (sockwired)", "handles", "RSS KiB", "threads", "B each (delta)");
  if (!scale_error.empty()) std::printf("FAILED: %s\n", scale_error.c_str());
  for (auto& s : scale) {
    if (s.rss_kib == 0) {
      std::printf("%-32s (%s)\n", "", s.what.c_str());
      continue;
    }
    std::printf("%-32s %8ld %10ld %8d %14s\n", s.what.c_str(), s.count, s.rss_kib, s.threads,
                s.count ? Fmt(s.bytes_each, 0).c_str() : "-");
  }
  for (auto& [k, why] : missing) std::printf("note: %s skipped: %s\n", k.c_str(), why.c_str());
  std::printf("%s\n", all_ok ? "RESULT: every measured path moved every byte intact"
                             : "RESULT: FAILURES (see above)");
  std::fflush(stdout);
  daemon.reset();
  peers.clear();
  std::string rm = "rm -rf " + dir;
  int ignored = system(rm.c_str());
  (void)ignored;
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace sockwire::bench

int main(int argc, char** argv) {
  using namespace sockwire::bench;
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const std::string& key) -> std::string {
      return a.rfind(key + "=", 0) == 0 ? a.substr(key.size() + 1) : std::string();
    };
    if (a.rfind("--serve-bare=", 0) == 0) return ServeBare(val("--serve-bare"));
    if (a == "--quick") {
      cfg.quick = true;
      cfg.reps = 3;
      cfg.bulk_bytes = 8 << 20;
      cfg.echo_iters = 200;
      cfg.rate_secs = 0.2;
      cfg.scale_handles = {1000};
      cfg.pending = 1000;
    } else if (!val("--reps").empty()) {
      cfg.reps = std::max(1, atoi(val("--reps").c_str()));
    } else if (!val("--sockwired").empty()) {
      cfg.sockwired = val("--sockwired");
    } else if (!val("--bulk-mib").empty()) {
      cfg.bulk_bytes = static_cast<size_t>(atol(val("--bulk-mib").c_str())) << 20;
    } else if (!val("--echo-iters").empty()) {
      cfg.echo_iters = std::max(10, atoi(val("--echo-iters").c_str()));
    } else if (!val("--only").empty()) {
      cfg.only = val("--only");
    } else if (a == "--no-scale") {
      cfg.scale = false;
    } else {
      std::fprintf(stderr,
                   "usage: sockwire_bench [--quick] [--reps=N] [--bulk-mib=N] [--echo-iters=N] [--no-scale] [--only=NAME,...] "
                   "[--sockwired=PATH]\n");
      return 2;
    }
  }
  try {
    return Run(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sockwire_bench: %s\n", e.what());
    return 1;
  }
}
