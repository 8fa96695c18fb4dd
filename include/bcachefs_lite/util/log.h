// Logger: leveled, one line per message, handed to whoever needs to log
// (no process-wide logger: a CacheSet owns one, tests make their own).
//
// Thread safety: log() may be called from any thread; each message reaches
// the sink whole. The level may be changed concurrently.
#pragma once

#include <atomic>
#include <fmt/format.h>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace bcl {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

const char* log_level_name(LogLevel level);

class Logger {
public:
    using Sink = std::function<void(LogLevel, std::string_view)>;

    // Writes "bcachefs-lite: LEVEL: message\n" to stderr in one write(2).
    static void stderr_sink(LogLevel level, std::string_view line);
    // Sends the message to syslog(3) (for a daemon that has left its terminal).
    static void syslog_sink(LogLevel level, std::string_view line);

    // Default: level info, to stderr.
    explicit Logger(LogLevel level = LogLevel::info, Sink sink = stderr_sink) : level_(level), sink_(std::move(sink)) {}

    void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
    LogLevel level() const { return level_.load(std::memory_order_relaxed); }
    bool enabled(LogLevel level) const { return level >= this->level(); }

    template <class... Args>
    void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
        if (!enabled(level)) return;
        sink_(level, fmt::format(f, std::forward<Args>(args)...));
    }
    template <class... Args>
    void debug(fmt::format_string<Args...> f, Args&&... args) {
        log(LogLevel::debug, f, std::forward<Args>(args)...);
    }
    template <class... Args>
    void info(fmt::format_string<Args...> f, Args&&... args) {
        log(LogLevel::info, f, std::forward<Args>(args)...);
    }
    template <class... Args>
    void warn(fmt::format_string<Args...> f, Args&&... args) {
        log(LogLevel::warn, f, std::forward<Args>(args)...);
    }
    template <class... Args>
    void error(fmt::format_string<Args...> f, Args&&... args) {
        log(LogLevel::error, f, std::forward<Args>(args)...);
    }

private:
    std::atomic<LogLevel> level_;
    Sink sink_;  // set once at construction
};

}  // namespace bcl
