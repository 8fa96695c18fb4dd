// LogLines: a Logger sink that keeps the lines, and the two lines of a
// BackingLink's changes, for the tests of what is logged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bcachefs_lite/util/log.h"

namespace bcl::test {

// Every line a Logger was given.
class LogLines {
public:
    Logger::Sink sink() {
        return [this](LogLevel level, std::string_view line) {
            std::lock_guard lk(mutex_);
            lines_.emplace_back(level, std::string(line));
        };
    }
    // The lines at `level` that contain `text`.
    std::size_t count(LogLevel level, std::string_view text) const {
        std::lock_guard lk(mutex_);
        return static_cast<std::size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const auto& l) {
            return l.first == level && l.second.find(text) != std::string::npos;
        }));
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::pair<LogLevel, std::string>> lines_;
};

inline constexpr std::string_view kDownLine = "backing directory not answering";
inline constexpr std::string_view kUpLine = "backing directory answering again";

}  // namespace bcl::test
