#include "server/obs/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

namespace sockwire::obs {
namespace {

struct State {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  bool json = false;
  Level level = Level::kInfo;
  struct Bucket {
    double tokens = kBurst;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    uint64_t suppressed = 0;
  };
  static constexpr double kBurst = 20;
  static constexpr double kPerSecond = 2;
  std::map<std::string, Bucket, std::less<>> buckets;
};

State& S() {
  static State* s = [] {
    auto* st = new State;
    st->logger = std::make_shared<spdlog::logger>("sockwired", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    st->logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    st->logger->set_level(spdlog::level::info);
    st->logger->flush_on(spdlog::level::debug);
    return st;
  }();
  return *s;
}

spdlog::level::level_enum ToSpd(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarning: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Text values with spaces or quotes are quoted, so a line stays parseable.
void AppendText(std::string& out, std::string_view k, std::string_view v) {
  out += ' ';
  out.append(k);
  out += '=';
  bool plain = !v.empty() && v.find_first_of(" \"=\t\n") == std::string_view::npos;
  if (plain) {
    out.append(v);
  } else {
    out += nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void Emit(Level level, std::string_view event, std::initializer_list<Field> fields, uint64_t suppressed) {
  State& s = S();
  std::string line;
  if (s.json) {
    nlohmann::ordered_json j;
    j["event"] = std::string(event);
    for (const auto& [k, v] : fields) j[std::string(k)] = std::string(v);
    if (suppressed > 0) j["suppressed"] = suppressed;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.erase(0, 1);  // The pattern supplies "{" + ts + level.
  } else {
    line.append(event);
    for (const auto& [k, v] : fields) AppendText(line, k, v);
    if (suppressed > 0) line += " suppressed=" + std::to_string(suppressed);
  }
  s.logger->log(ToSpd(level), line);
}

}  // namespace

bool ParseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warning" || s == "warn") *out = Level::kWarning;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}

void InitLogging(Level level, bool json) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  s.json = json;
  s.level = level;
  if (json) {
    s.logger->set_pattern("{\"ts\":\"%Y-%m-%dT%H:%M:%S.%fZ\",\"level\":\"%l\",%v", spdlog::pattern_time_type::utc);
  } else {
    s.logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  s.logger->set_level(ToSpd(level));
}

bool Enabled(Level level) { return S().logger->should_log(ToSpd(level)); }

void Log(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  Emit(level, event, fields, 0);
}

void LogLimited(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  State& s = S();
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.buckets.find(event);
    if (it == s.buckets.end()) it = s.buckets.emplace(std::string(event), State::Bucket{}).first;
    auto& b = it->second;
    auto now = std::chrono::steady_clock::now();
    b.tokens = std::min(State::kBurst,
                        b.tokens + std::chrono::duration<double>(now - b.last).count() * State::kPerSecond);
    b.last = now;
    if (b.tokens < 1) {
      ++b.suppressed;
      return;
    }
    b.tokens -= 1;
    suppressed = b.suppressed;
    b.suppressed = 0;
  }
  Emit(level, event, fields, suppressed);
}

}  // namespace sockwire::obs
