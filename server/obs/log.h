// Logging for the whole daemon: one spdlog logger (stderr), text or JSON.
//
// Every noteworthy event is one line with an event name and key=value
// fields. JSON lines carry: "ts" (RFC 3339 UTC), "level", "event", then the
// event's fields (strings), and "suppressed" when a rate limit dropped lines
// of that event since the previous one.
//
// Plain C++ (no gRPC/HTTP): the core calls it. Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sockwire::obs {

enum class Level { kDebug, kInfo, kWarning, kError };

// Parses "debug", "info", "warning"/"warn", "error"; false if unknown.
bool ParseLevel(std::string_view s, Level* out);
// Installs the logger. `json`: one JSON object per line. Call once, early;
// before that, lines go out as text at info.
void InitLogging(Level level, bool json);
bool Enabled(Level level);

using Field = std::pair<std::string_view, std::string_view>;

// One line for `event` (a short snake_case name) with its fields.
void Log(Level level, std::string_view event, std::initializer_list<Field> fields);

// As Log, but for events a caller can trigger at will (denials, limits,
// errors of a call): a token bucket per event name (a burst of 20, then 2 a
// second); dropped lines are counted and reported as "suppressed" on the next
// line of the same event that gets through.
void LogLimited(Level level, std::string_view event, std::initializer_list<Field> fields);

}  // namespace sockwire::obs
