// A one-line progress bar on stderr (bytes, rate, ETA), drawn only when
// stderr is a terminal and redrawn at most 10 times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sockwire::cli {

class Progress {
 public:
  // `total`: bytes expected (percentage and ETA), nullopt when unknown.
  // `force`: draw even when stderr is not a terminal (never used by commands).
  explicit Progress(std::optional<std::uint64_t> total, bool force = false);
  void add(std::uint64_t n);
  // Draws the last state and ends the line.
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);
  std::optional<std::uint64_t> total_;
  bool enabled_;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  bool finished_ = false;
};

}  // namespace sockwire::cli
