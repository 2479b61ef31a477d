// Process-wide metrics with the Prometheus text exposition (format 0.0.4).
//
// Families are created once (static storage, never freed) and hold children
// by label values. Label values must come from bounded sets (method names,
// status codes, reasons, families): never handles, tokens or addresses.
// Counters and gauges are lock-free once a child is looked up; looking a
// child up takes the family's mutex, so hot paths keep the child reference.
//
// Plain C++ (no gRPC/HTTP): the core updates it. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sockwire::obs {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(double n) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) {
    }
  }
  void Set(double n) { v_.store(n, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Seconds-valued histogram with fixed upper bounds.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  // Cumulative bucket counts (one per bound, then +Inf), sum and count.
  void Read(std::vector<uint64_t>* cumulative, double* sum, uint64_t* count) const;

 private:
  const std::vector<double>* bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> bounds = {});
  // The child for these label values (one per label name), created at first use.
  Counter& counter(const std::vector<std::string>& values);
  Gauge& gauge(const std::vector<std::string>& values);
  Histogram& histogram(const std::vector<std::string>& values);
  // A gauge read at scrape time (no labels).
  void set_callback(std::function<double()> fn);
  void Expose(std::string* out) const;
  const std::string& name() const { return name_; }

 private:
  struct Child {
    Counter counter;
    Gauge gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Child& child(const std::vector<std::string>& values);

  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>> children_;
  std::function<double()> callback_;
};

// Every family, in registration order.
class Registry {
 public:
  static Registry& Get();
  Family& Add(std::string name, std::string help, Type type, std::vector<std::string> labels,
              std::vector<double> bounds = {});
  // The whole exposition, text format 0.0.4.
  std::string Expose() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// ---- The daemon's metrics (README "Operations" lists them) ----
namespace metrics {

// sockwire_sessions_open: callback set by the daemon.
Family& SessionsOpen();
// sockwire_sockets_open{family,type}: daemon-owned sockets alive.
Gauge& SocketsOpen(int family, int type);
// sockwire_sessions_opened_total / sockwire_sessions_closed_total{reason}.
Counter& SessionsOpened();
Counter& SessionsClosed(const std::string& reason);
// sockwire_calls_total{service,method,code} and
// sockwire_call_duration_seconds{service,method}.
Counter& Calls(const std::string& service, const std::string& method, const std::string& code);
Histogram& CallDuration(const std::string& service, const std::string& method);
// sockwire_bytes_total{path,direction}: path unary|stream|raw|websocket,
// direction in (from clients to sockets) | out (from sockets to clients).
enum class Path { kUnary, kStream, kRaw, kWebSocket };
Counter& BytesIn(Path p);
Counter& BytesOut(Path p);
// sockwire_policy_denials_total{reason}, sockwire_quota_refusals_total{reason}.
Counter& PolicyDenials(const std::string& reason);
Counter& QuotaRefusals(const std::string& reason);
// sockwire_event_loop_lag_seconds (gauge, last probe) and its histogram
// sockwire_event_loop_lag_probe_seconds.
Gauge& LoopLag();
Histogram& LoopLagHistogram();
// Callback gauges the daemon wires: pending waits, descriptors, limit.
Family& PendingWaits();
Family& OpenFds();
Family& MaxFds();
// sockwire_ready: 1 serving, 0 draining or starting.
Gauge& Ready();

// Registers every family (so a scrape shows them before first use).
void RegisterAll();
}  // namespace metrics

// RAII: one daemon-owned socket counted in sockwire_sockets_open.
class SocketCount {
 public:
  SocketCount(int family, int type) : g_(&metrics::SocketsOpen(family, type)) { g_->Add(1); }
  ~SocketCount() { g_->Add(-1); }
  SocketCount(const SocketCount&) = delete;
  SocketCount& operator=(const SocketCount&) = delete;

 private:
  Gauge* g_;
};

}  // namespace sockwire::obs
