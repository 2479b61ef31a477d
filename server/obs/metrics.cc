#include "server/obs/metrics.h"

#include <sys/socket.h>

#include <cmath>
#include <cstdio>

namespace sockwire::obs {
namespace {

// Label values are escaped as the exposition format asks (\\, \", \n).
void AppendEscaped(std::string* out, const std::string& v) {
  for (char c : v) {
    if (c == '\\') *out += "\\\\";
    else if (c == '"') *out += "\\\"";
    else if (c == '\n') *out += "\\n";
    else *out += c;
  }
}

void AppendLabels(std::string* out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const char* le = nullptr) {
  if (names.empty() && le == nullptr) return;
  *out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *out += ',';
    *out += names[i];
    *out += "=\"";
    AppendEscaped(out, values[i]);
    *out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) *out += ',';
    *out += "le=\"";
    *out += le;
    *out += '"';
  }
  *out += '}';
}

std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(const std::vector<double>* bounds) : bounds_(bounds), counts_(bounds->size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::Read(std::vector<uint64_t>* cumulative, double* sum, uint64_t* count) const {
  std::lock_guard<std::mutex> lock(mu_);
  cumulative->resize(counts_.size());
  uint64_t acc = 0;
  for (size_t i = 0; i < counts_.size(); ++i) (*cumulative)[i] = acc += counts_[i];
  *sum = sum_;
  *count = count_;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
               std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)),
      bounds_(std::move(bounds)) {}

Family::Child& Family::child(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& c = children_[values];
  if (!c) {
    c = std::make_unique<Child>();
    if (type_ == Type::kHistogram) c->histogram = std::make_unique<Histogram>(&bounds_);
  }
  return *c;
}

Counter& Family::counter(const std::vector<std::string>& values) { return child(values).counter; }
Gauge& Family::gauge(const std::vector<std::string>& values) { return child(values).gauge; }
Histogram& Family::histogram(const std::vector<std::string>& values) { return *child(values).histogram; }

void Family::set_callback(std::function<double()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  callback_ = std::move(fn);
}

void Family::Expose(std::string* out) const {
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  *out += "# HELP " + name_ + " " + help_ + "\n";
  *out += "# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (callback_) {
    *out += name_ + " " + Num(callback_()) + "\n";
    return;
  }
  for (const auto& [values, c] : children_) {
    switch (type_) {
      case Type::kCounter:
        *out += name_;
        AppendLabels(out, labels_, values);
        *out += " " + std::to_string(c->counter.value()) + "\n";
        break;
      case Type::kGauge:
        *out += name_;
        AppendLabels(out, labels_, values);
        *out += " " + Num(c->gauge.value()) + "\n";
        break;
      case Type::kHistogram: {
        std::vector<uint64_t> cum;
        double sum = 0;
        uint64_t count = 0;
        c->histogram->Read(&cum, &sum, &count);
        for (size_t i = 0; i < cum.size(); ++i) {
          std::string le = i < bounds_.size() ? Num(bounds_[i]) : "+Inf";
          *out += name_ + "_bucket";
          AppendLabels(out, labels_, values, le.c_str());
          *out += " " + std::to_string(cum[i]) + "\n";
        }
        *out += name_ + "_sum";
        AppendLabels(out, labels_, values);
        *out += " " + Num(sum) + "\n";
        *out += name_ + "_count";
        AppendLabels(out, labels_, values);
        *out += " " + std::to_string(count) + "\n";
        break;
      }
    }
  }
}

Registry& Registry::Get() {
  static Registry* r = new Registry;
  return *r;
}

Family& Registry::Add(std::string name, std::string help, Type type, std::vector<std::string> labels,
                      std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), type, std::move(labels),
                                               std::move(bounds)));
  return *families_.back();
}

std::string Registry::Expose() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) f->Expose(&out);
  return out;
}

namespace metrics {
namespace {

const std::vector<double> kLatency = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  5,     10,  30};
const std::vector<double> kLag = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};

Family& F(const char* name, const char* help, Type t, std::vector<std::string> labels,
          const std::vector<double>& bounds = {}) {
  return Registry::Get().Add(name, help, t, std::move(labels), bounds);
}

std::string FamilyName(int f) {
  switch (f) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    default: return "other";
  }
}

std::string TypeName(int t) {
  switch (t & 0xf) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_RAW: return "raw";
    case SOCK_RDM: return "rdm";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return "other";
  }
}

struct All {
  Family& sessions_open = F("sockwire_sessions_open", "Sessions currently open.", Type::kGauge, {});
  Family& sessions_opened =
      F("sockwire_sessions_opened_total", "Sessions opened since start.", Type::kCounter, {});
  Family& sessions_closed = F("sockwire_sessions_closed_total",
                              "Sessions ended: reason=closed by their client, expired by lease or grace (approximate).", Type::kCounter, {"reason"});
  Family& sockets_open = F("sockwire_sockets_open", "Daemon-owned sockets (handles) alive, by family and type.",
                           Type::kGauge, {"family", "type"});
  Family& calls = F("sockwire_calls_total", "RPCs completed (gRPC and REST), by service, method and status code.",
                    Type::kCounter, {"service", "method", "code"});
  Family& call_duration = F("sockwire_call_duration_seconds", "RPC duration from start to status, by method.",
                            Type::kHistogram, {"service", "method"}, kLatency);
  Family& bytes = F("sockwire_bytes_total",
                    "Payload bytes moved, by data path; direction in = client to socket, out = socket to client.",
                    Type::kCounter, {"path", "direction"});
  Family& denials = F("sockwire_policy_denials_total", "Operations refused by the policy, by reason.",
                      Type::kCounter, {"reason"});
  Family& quota = F("sockwire_quota_refusals_total", "Operations refused by a quota or limit, by reason.",
                    Type::kCounter, {"reason"});
  Family& lag = F("sockwire_event_loop_lag_seconds", "Delay of the last event-loop probe behind its schedule.",
                  Type::kGauge, {});
  Family& lag_hist = F("sockwire_event_loop_lag_probe_seconds", "Event-loop probe delays.", Type::kHistogram,
                       {}, kLag);
  Family& pending = F("sockwire_pending_waits", "Readiness waits queued on the event loop.", Type::kGauge, {});
  Family& fds = F("sockwire_open_fds", "Descriptors open in the daemon process.", Type::kGauge, {});
  Family& max_fds = F("sockwire_max_fds", "The daemon's descriptor limit (RLIMIT_NOFILE soft).", Type::kGauge, {});
  Family& ready = F("sockwire_ready", "1 while serving, 0 while starting or draining.", Type::kGauge, {});
  Counter* bytes_in[4];
  Counter* bytes_out[4];
  All() {
    static const char* kPaths[] = {"unary", "stream", "raw", "websocket"};
    for (int i = 0; i < 4; ++i) {
      bytes_in[i] = &bytes.counter({kPaths[i], "in"});
      bytes_out[i] = &bytes.counter({kPaths[i], "out"});
    }
    sessions_opened.counter({});
    lag.gauge({});
    lag_hist.histogram({});
    ready.gauge({});
  }
};

All& A() {
  static All* a = new All;
  return *a;
}

}  // namespace

Family& SessionsOpen() { return A().sessions_open; }
Gauge& SocketsOpen(int family, int type) { return A().sockets_open.gauge({FamilyName(family), TypeName(type)}); }
Counter& SessionsOpened() { return A().sessions_opened.counter({}); }
Counter& SessionsClosed(const std::string& reason) { return A().sessions_closed.counter({reason}); }
Counter& Calls(const std::string& service, const std::string& method, const std::string& code) {
  return A().calls.counter({service, method, code});
}
Histogram& CallDuration(const std::string& service, const std::string& method) {
  return A().call_duration.histogram({service, method});
}
Counter& BytesIn(Path p) { return *A().bytes_in[static_cast<int>(p)]; }
Counter& BytesOut(Path p) { return *A().bytes_out[static_cast<int>(p)]; }
Counter& PolicyDenials(const std::string& reason) { return A().denials.counter({reason}); }
Counter& QuotaRefusals(const std::string& reason) { return A().quota.counter({reason}); }
Gauge& LoopLag() { return A().lag.gauge({}); }
Histogram& LoopLagHistogram() { return A().lag_hist.histogram({}); }
Family& PendingWaits() { return A().pending; }
Family& OpenFds() { return A().fds; }
Family& MaxFds() { return A().max_fds; }
Gauge& Ready() { return A().ready.gauge({}); }
void RegisterAll() { A(); }

}  // namespace metrics
}  // namespace sockwire::obs
